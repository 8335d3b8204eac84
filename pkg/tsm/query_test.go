package tsm

import (
	"strings"
	"testing"
	"time"
)

func at(y, mo, d, h, mi, s int) time.Time {
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.Local)
}

func checkObjects(t *testing.T, got, want []Object) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d objects, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("object %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestParseQueryBackupSamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want []Object
	}{
		{
			name: "05 6.4 client, dd-mm-yyyy, size with unit",
			out:  sample05Banner(t) + sample05(t, "q ba /home/ians/projects"),
			want: []Object{{Name: "/home/ians/projects", Size: 512, MgmtClass: "STANDARD", BackupTime: at(2012, 4, 24, 2, 52, 9), Active: true}},
		},
		{
			name: "05 6.4 client, -inactive, sizes without unit",
			out:  sample05(t, "q ba /home/ians/projects/* -subdir=yes -inactive"),
			want: []Object{
				{Name: "/home/ians/projects/hfs0106", Size: 512, MgmtClass: "STANDARD", BackupTime: at(2011, 9, 12, 19, 57, 9), Active: true},
				{Name: "/home/ians/projects/hsm41perf", Size: 1024, MgmtClass: "STANDARD", BackupTime: at(2011, 12, 8, 2, 46, 53), Active: true},
				{Name: "/home/ians/projects/hsm41test", Size: 512, MgmtClass: "STANDARD", BackupTime: at(2011, 9, 12, 19, 57, 9), Active: true},
				{Name: "/home/ians/projects/hsm42upg", Size: 512, MgmtClass: "STANDARD", BackupTime: at(2012, 4, 24, 0, 22, 56), Active: true},
				{Name: "/home/ians/projects/hfs0106/test", Size: 1024, MgmtClass: "STANDARD", BackupTime: at(2011, 9, 12, 19, 57, 9), Active: true},
				{Name: "/home/ians/projects/hfs0106/test/test2", Size: 1024, MgmtClass: "STANDARD", BackupTime: at(2011, 9, 12, 19, 57, 9), Active: true},
				{Name: "/home/ians/projects/hsm41perf/tables", Size: 12048, MgmtClass: "STANDARD", BackupTime: at(2011, 12, 4, 2, 1, 29), Active: true},
				{Name: "/home/ians/projects/hsm41perf/tables", Size: 8448, MgmtClass: "STANDARD", BackupTime: at(2011, 12, 3, 1, 31, 18), Active: false},
				{Name: "/home/ians/projects/hsm42upg/PMR70023", Size: 50326, MgmtClass: "STANDARD", BackupTime: at(2012, 4, 30, 1, 35, 26), Active: true},
				{Name: "/home/ians/projects/hsm42upg/PMR70099", Size: 50326, MgmtClass: "STANDARD", BackupTime: at(2012, 4, 27, 0, 28, 15), Active: true},
				{Name: "/home/ians/projects/hsm42upg/md5check", Size: 11013, MgmtClass: "STANDARD", BackupTime: at(2012, 4, 24, 0, 22, 56), Active: true},
				{Name: "/home/ians/projects/hsm42upg/md5check", Size: 11013, MgmtClass: "STANDARD", BackupTime: at(2012, 4, 23, 17, 10, 8), Active: false},
			},
		},
		{
			name: "09 -detail with tab-indented continuation lines and an ellipsis",
			out:  sampleWhole(t, "09-query-backup-detail-mmddyyyy-daitss.txt"),
			want: []Object{
				{Name: "/daitssfs/023/000/.lock", Size: 0, MgmtClass: "PERMANENT", BackupTime: at(2010, 7, 13, 2, 15, 5), Active: true},
				{Name: "/daitssfs/023/000/04a197ad3a00ee4bc98b78858ce4c/data", Size: 19251200, MgmtClass: "PERMANENT", BackupTime: at(2010, 3, 2, 9, 46, 12), Active: true},
				{Name: "/daitssfs/023/ffe/c6562ea1af5f439234428aca9495c/type", Size: 25, MgmtClass: "PERMANENT", BackupTime: at(2010, 3, 2, 22, 33, 17), Active: false},
			},
		},
		{
			name: "10 TSM 4.2 banner, two-digit year",
			out:  sample10(t, 1),
			want: []Object{{Name: "/etc/mnttab", Size: 4743, MgmtClass: "DEFAULT", BackupTime: at(2003, 1, 28, 0, 30, 28), Active: true}},
		},
		{
			name: "10 TSM 4.2 no match",
			out:  sample10(t, 0),
			want: nil,
		},
		{
			name: "names with blanks, ISO dates, CRLF, units, stderr message mixed in",
			out: "IBM Storage Protect\r\nCommand Line Backup-Archive Client Interface\r\n" +
				"  Client Version 8, Release 1, Level 23.0 \r\n  Client date/time: 2024-09-13 08:00:00\r\n\r\n" +
				"Node Name: N1\r\nSession established with server S: Linux/x86_64\r\n" +
				"  Server date/time: 2024-09-13 08:00:00  Last access: 2024-09-13 07:59:00\r\n\r\n" +
				"Accessing as node: CLUSTER\r\n" +
				"             Size      Backup Date                Mgmt Class           A/I File\r\n" +
				"             ----      -----------                ----------           --- ----\r\n" +
				"       8.00 MB  2024-09-13 07:55:01    DEFAULT              A  /var/lib/tsm/snap-1 with  two blanks   \r\n" +
				"   1,048,576  B  2024-09-12 23:00:00    STANDARD             I  /var/lib/tsm/snap-2\r\n",
			want: []Object{
				{Name: "/var/lib/tsm/snap-1 with  two blanks", Size: 8 << 20, MgmtClass: "DEFAULT", BackupTime: at(2024, 9, 13, 7, 55, 1), Active: true},
				{Name: "/var/lib/tsm/snap-2", Size: 1 << 20, MgmtClass: "STANDARD", BackupTime: at(2024, 9, 12, 23, 0, 0), Active: false},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := ParseQueryBackup(tc.out)
			if len(skipped) > 0 {
				t.Fatalf("skipped %q", skipped)
			}
			checkObjects(t, got, tc.want)
		})
	}
}

// A row of an unknown shape is skipped and reported, never misread, and the
// rows around it are still listed.
func TestParseQueryBackupSkipsUnknownRows(t *testing.T) {
	good := "512  B  2019-02-03 08:56:33    DEFAULT   A  /data/good\n"
	for name, out := range map[string]string{
		// The pick window (sample 05) is not query backup output; its rows
		// must not be mistaken for objects.
		"05 pick window":             sample05(t, "rest /home/ians/projects/*  /tmp/restore/ -su=yes  -inactive -pick"),
		"de_DE size":                 "202.784.104  B  06.03.2019 08:56:33    DEFAULT   A  /data/x\n",
		"narrow no-break space size": "202\u202f784\u202f104  B  2019-03-06 08:56:33    DEFAULT   A  /data/x\n",
		"impossible date":            "512  B  2019-02-30 08:56:33    DEFAULT   A  /data/x\n",
		"no A/I":                     "512  B  2019-02-03 08:56:33    DEFAULT   X  /data/x\n",
		"no name":                    "512  B  2019-02-03 08:56:33    DEFAULT   A\n",
		"unknown unit":               "512  XB  2019-02-03 08:56:33    DEFAULT   A  /data/x\n",
	} {
		got, skipped := ParseQueryBackup(good + out + "\n" + good)
		if len(got) != 2 || got[0].Name != "/data/good" || got[1].Name != "/data/good" {
			t.Errorf("%s: rows %+v, want the two good ones", name, got)
		}
		if len(skipped) == 0 || !strings.HasPrefix(skipped[0], "query backup line ") {
			t.Errorf("%s: skipped %q", name, skipped)
		}
	}
}

// No real `dsmc query image` output was available (dsmc.md §1.4 gives a
// reconstruction only), so these cases vary the reconstruction in the ways
// the parser claims to tolerate.
func TestParseQueryImage(t *testing.T) {
	banner := sampleWhole(t, "03-query-filespace-8.1.23.txt")
	banner = banner[:strings.Index(banner, "  #")]
	for _, tc := range []struct {
		name string
		out  string
		want []Object
	}{
		{
			name: "dsmc.md reconstruction with row number",
			out: banner +
				"  Image Size  Stored Size FSType    Backup Date           Mgmt Class A/I Image Name\n" +
				"  ----------  ----------- ------    -------------------   ---------- --- ----------\n" +
				"1   10.00 GB     10.00 GB RAW       05/03/2021 10:11:12   DEFAULT     A  /dev/backup-1234\n",
			want: []Object{{Name: "/dev/backup-1234", Size: 10 << 30, StoredSize: 10 << 30, FSType: "RAW", MgmtClass: "DEFAULT", BackupTime: at(2021, 5, 3, 10, 11, 12), Active: true}},
		},
		{
			name: "ISO dates, no row number, bytes, inactive, name with blank",
			out: "  8,388,608  B    8,388,608  B RAW   2024-09-13 08:00:00  DEFAULT  A  /dev/tsm-snap 1\n" +
				"     8.00 MB       9.50 MB EXT4  2024-09-12 08:00:00  STANDARD  I  /dev/tsm-snap-0\n",
			want: []Object{
				{Name: "/dev/tsm-snap 1", Size: 8 << 20, StoredSize: 8 << 20, FSType: "RAW", MgmtClass: "DEFAULT", BackupTime: at(2024, 9, 13, 8, 0, 0), Active: true},
				{Name: "/dev/tsm-snap-0", Size: 8 << 20, StoredSize: 9728 << 10, FSType: "EXT4", MgmtClass: "STANDARD", BackupTime: at(2024, 9, 12, 8, 0, 0), Active: false},
			},
		},
		{
			name: "row number and one size, no file system type, no class",
			out:  "  2   1.00 GB  13-09-2024 08:00:00  A  /dev/x\n",
			want: []Object{{Name: "/dev/x", Size: 1 << 30, StoredSize: 1 << 30, BackupTime: at(2024, 9, 13, 8, 0, 0), Active: true}},
		},
		{
			name: "banner only: no images",
			out:  banner,
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := ParseQueryImage(tc.out)
			if len(skipped) > 0 {
				t.Fatalf("skipped %q", skipped)
			}
			checkObjects(t, got, tc.want)
		})
	}
}

func TestParseQueryImageSkipsUnknownRows(t *testing.T) {
	good := "1  2.00 GB  2.00 GB RAW 2024-09-13 08:00:00  DEFAULT  A  /dev/good\n"
	for name, out := range map[string]string{
		"de_DE sizes":           "1   10,00 GB     10,00 GB RAW   06.03.2019 08:56:33   DEFAULT  A  /dev/x\n",
		"de_DE byte sizes":      "1   202.784.104  B  202.784.104  B RAW   06.03.2019 08:56:33   DEFAULT  A  /dev/x\n",
		"four sizes":            "1  2 GB  3 GB  4 GB  5 GB RAW  2024-09-13 08:00:00  DEFAULT  A  /dev/x\n",
		"two file system types": "1  2.00 GB  2.00 GB RAW EXT4 2024-09-13 08:00:00  DEFAULT  A  /dev/x\n",
		"no name":               "1  2.00 GB  2.00 GB RAW 2024-09-13 08:00:00  DEFAULT  A\n",
		"impossible date":       "1  2.00 GB  2.00 GB RAW 2024-13-13 08:00:00  DEFAULT  A  /dev/x\n",
	} {
		got, skipped := ParseQueryImage(good + out + good)
		if len(got) != 2 || got[0].Name != "/dev/good" || got[1].Name != "/dev/good" {
			t.Errorf("%s: rows %+v, want the two good ones", name, got)
		}
		if len(skipped) != 1 || !strings.HasPrefix(skipped[0], "query image line 2: ") {
			t.Errorf("%s: skipped %q", name, skipped)
		}
	}
}

func TestParseQuerySessionSamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want Session
	}{
		{
			name: "02 query session 8.1.6",
			out:  sampleWhole(t, "02-query-session-8.1.6.txt"),
			want: Session{Server: "SERVER_A", ServerType: "Linux/x86_64", ServerVersion: "Ver. 8, Rel. 1, Lev. 4.0",
				Node: "BLACKHOLE", User: "root", DeleteBackupAllowed: false},
		},
		{
			name: "02 with delete allowed",
			out:  strings.Replace(sampleWhole(t, "02-query-session-8.1.6.txt"), `Delete Backup Files.....: "No"`, `Delete Backup Files.....: "Yes"`, 1),
			want: Session{Server: "SERVER_A", ServerType: "Linux/x86_64", ServerVersion: "Ver. 8, Rel. 1, Lev. 4.0",
				Node: "BLACKHOLE", User: "root", DeleteBackupAllowed: true},
		},
		{
			name: "03 banner of 8.1.23 with trailing blanks",
			out:  sampleWhole(t, "03-query-filespace-8.1.23.txt"),
			want: Session{Server: "DCO1-BACKUP-SERVER-2", ServerType: "Linux/x86_64", ServerVersion: "8, Release 1, Level 21.000", Node: "YOURNODENAME"},
		},
		{
			name: "04 banner of 7.1.4 with Accessing as node",
			out:  sampleWhole(t, "04-query-archive-asnode-7.1.4.txt"),
			want: Session{Server: "BLACKHOLE", ServerType: "Linux/x86_64", ServerVersion: "8, Release 1, Level 9.300",
				Node: "HASTA.SCILIFELAB.SE_CLINICAL", AccessingAs: "SLLCLINICAL"},
		},
		{
			name: "06 8.1.7 asnodename restore",
			out:  sample06(t, "-asnodename"),
			want: Session{Server: "SSS-IP06", ServerType: "Linux/x86_64", ServerVersion: "8, Release 1, Level 7.000",
				Node: "SSS-IP09", AccessingAs: "SSS-IP02"},
		},
		{
			name: "10 TSM 4.2 banner",
			out:  sample10(t, 1),
			want: Session{Server: "BUDDHA", ServerType: "Solaris 7/8", ServerVersion: "4, Release 2, Level 2.12", Node: "D_QUIRK"},
		},
		{
			name: "11 A login prompts between the banner lines",
			out:  sample11(t, "A"),
			want: Session{Server: "EXT_BACKUP", ServerType: "Linux/ppc64le", ServerVersion: "8, Release 1, Level 12.114", Node: "A230-PC46"},
		},
		{
			name: "11 B unindented banner after ANS1051I",
			out:  sample11(t, "B"),
			want: Session{Server: "TSM12", ServerType: "Linux/x86_64", ServerVersion: "8, Release 1, Level 15.000", Node: "XXXXXX"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseQuerySession(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParseQuerySessionWithoutSession(t *testing.T) {
	for name, out := range map[string]string{
		// The scheduler log prefixes every line with a timestamp; it is
		// not the output of a query session.
		"12 dsmsched.log": sampleWhole(t, "12-dsmsched-ANS2050E-background-password.txt"),
		"16 dsmadmc":      sampleWhole(t, "16-admin-client-session-errors.txt"),
		"empty":           "",
	} {
		if s, err := ParseQuerySession(out); err == nil {
			t.Errorf("%s: got %+v, want an error", name, s)
		}
	}
}
