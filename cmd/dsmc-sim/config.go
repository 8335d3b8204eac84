package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// stanza is one SERVERNAME section of dsm.sys.
type stanza struct {
	name string
	opts map[string]string // lower-case keys
}

// dsmConfig is what the simulator reads from dsm.sys and dsm.opt: enough to
// select a server stanza, a node name and default formats.
type dsmConfig struct {
	sysPath       string
	sysExists     bool
	defaultServer string
	stanzas       []*stanza
	opt           map[string]string // dsm.opt, lower-case keys
	excludes      []excludeRule     // EXCLUDE / EXCLUDE.IMAGE of dsm.sys, dsm.opt and the server
}

// readOptionLines parses "KEY value" lines; '*' and '#' start comments.
func readOptionLines(path string, each func(key, val string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '*' || line[0] == '#' {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		if i := strings.IndexAny(key, "\t"); i >= 0 {
			key, val = key[:i], key[i+1:]+" "+val
		}
		each(strings.ToLower(key), strings.TrimSpace(val))
	}
	return sc.Err()
}

// loadConfig reads DSM_DIR/dsm.sys and the options file (-optfile, else
// DSM_CONFIG, else DSM_DIR/dsm.opt). A missing explicit options file is an
// error (ANS1035S); missing defaults are fine.
func loadConfig(getenv func(string) string, optfile string) (*dsmConfig, error) {
	cfg := &dsmConfig{opt: map[string]string{}}
	dir := getenv("DSM_DIR")
	if dir != "" {
		cfg.sysPath = filepath.Join(dir, "dsm.sys")
		var cur *stanza
		err := readOptionLines(cfg.sysPath, func(k, v string) {
			switch {
			case k == "servername":
				cur = &stanza{name: v, opts: map[string]string{}}
				cfg.stanzas = append(cfg.stanzas, cur)
			case k == "defaultserver" && cur == nil:
				cfg.defaultServer = v
			case cur != nil:
				k = canonicalOptKey(k)
				cur.opts[k] = v
				cfg.addSiteOption(k, v)
			}
		})
		cfg.sysExists = err == nil
	}
	explicit := optfile != ""
	if !explicit {
		optfile = getenv("DSM_CONFIG")
		explicit = optfile != ""
	}
	if !explicit && dir != "" {
		optfile = filepath.Join(dir, "dsm.opt")
	}
	if optfile != "" {
		err := readOptionLines(optfile, func(k, v string) {
			k = canonicalOptKey(k)
			cfg.opt[k] = v
			cfg.addSiteOption(k, v)
		})
		if err != nil && explicit {
			return nil, err
		}
	}
	cfg.loadServerOptionSet(getenv("DSMSIM_ROOT"))
	return cfg, nil
}

// stanzaFor selects the stanza the session uses: -servername, else SERVERNAME
// of dsm.opt, else DEFAULTSERVER, else the first one. nil, false means the name
// is not in dsm.sys (ANS1217E).
func (cfg *dsmConfig) stanzaFor(servername string) (*stanza, bool) {
	if !cfg.sysExists {
		return nil, true
	}
	name := servername
	if name == "" {
		name = cfg.opt["servername"]
	}
	if name == "" {
		name = cfg.defaultServer
	}
	if name == "" {
		if len(cfg.stanzas) > 0 {
			return cfg.stanzas[0], true
		}
		return nil, true
	}
	for _, s := range cfg.stanzas {
		if strings.EqualFold(s.name, name) {
			return s, true
		}
	}
	return nil, false
}
