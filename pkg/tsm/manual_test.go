package tsm

import (
	"os/exec"
	"strings"
	"testing"
)

func TestManualRestore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		mode   Mode
		object string
		dst    string
		want   string
	}{
		{"image, own node", Config{}, ModeImage, "/dev/backup-1-2-3", "/srv/restore/vol.img",
			"dsmc restore image -imagetofile -noprompt /dev/backup-1-2-3 /srv/restore/vol.img"},
		{"image, proxy node and stanza", Config{ServerName: "TSM1", AsNodeName: "PROD-K8S", PasswordFile: "/etc/pw"}, ModeImage,
			"/dev/backup-1-2-3", "./vol.img",
			"dsmc restore image -imagetofile -noprompt -servername=TSM1 -asnodename=PROD-K8S /dev/backup-1-2-3 ./vol.img"},
		{"file, site options file", Config{OptFile: "/etc/tsm-csi/dsm.opt", AsNodeName: "K"}, ModeFile,
			"/var/lib/tsm-csi/tsm/backup-1-2-3", "/tmp/x",
			"dsmc restore -replace=yes -optfile=/etc/tsm-csi/dsm.opt -asnodename=K /var/lib/tsm-csi/tsm/backup-1-2-3 /tmp/x"},
		{"blanks and quotes are quoted", Config{}, ModeFile, "/a b", "/it's",
			`dsmc restore -replace=yes '/a b' '/it'\''s'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewClient(tc.cfg, nil).ManualRestore(tc.mode, tc.object, tc.dst)
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if strings.Contains(got, "pw") || strings.Contains(got, "-password") {
				t.Errorf("the command names the password: %s", got)
			}
			// The shell must see exactly the words the client would pass.
			out, err := exec.Command("sh", "-c", `for a in "$@"; do printf '%s\n' "$a"; done`, "sh", tc.object, tc.dst).Output()
			if err != nil {
				t.Fatal(err)
			}
			words, err := exec.Command("sh", "-c", "set -- "+strings.TrimPrefix(got, "dsmc ")+`; for a in "$@"; do printf '%s\n' "$a"; done`).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(words), string(out)) {
				t.Errorf("the shell reads the last words as %q, want %q", words, out)
			}
		})
	}
}
