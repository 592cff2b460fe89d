package sftp

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Config says where the repository is and how to reach the server.
type Config struct {
	User, Host string
	Port       int    // 0: ssh's default
	Path       string // the repository's directory on the server
	// Command, if not empty, is the command line that speaks SFTP on its
	// standard input and output, in place of ssh.
	Command []string
	// Args are extra arguments for ssh (not used with Command).
	Args []string
}

// ParseLocation parses "sftp:[user@]host:path" and
// "sftp://[user@]host[:port]/path". A path of the first form that is not
// absolute is relative to the login directory.
func ParseLocation(loc string) (Config, error) {
	s, ok := strings.CutPrefix(loc, "sftp:")
	if !ok {
		return Config{}, fmt.Errorf("sftp: %q is not an sftp: location", loc)
	}
	var cfg Config
	if rest, ok := strings.CutPrefix(s, "//"); ok {
		hostport, p, found := strings.Cut(rest, "/")
		if !found || p == "" {
			return Config{}, fmt.Errorf("sftp: location %q: want sftp://[user@]host[:port]/path", loc)
		}
		cfg.Path = "/" + p
		if u, h, ok := strings.Cut(hostport, "@"); ok {
			cfg.User, hostport = u, h
		}
		if h, port, ok := strings.Cut(hostport, ":"); ok {
			n, err := strconv.Atoi(port)
			if err != nil || n <= 0 || n > 65535 {
				return Config{}, fmt.Errorf("sftp: location %q: bad port %q", loc, port)
			}
			cfg.Port, hostport = n, h
		}
		cfg.Host = hostport
	} else {
		hostpart, p, found := strings.Cut(s, ":")
		if !found || p == "" {
			return Config{}, fmt.Errorf("sftp: location %q: want sftp:[user@]host:path", loc)
		}
		if u, h, ok := strings.Cut(hostpart, "@"); ok {
			cfg.User, hostpart = u, h
		}
		cfg.Host, cfg.Path = hostpart, p
	}
	if cfg.Host == "" {
		return Config{}, fmt.Errorf("sftp: location %q names no host", loc)
	}
	cfg.Path = path.Clean(cfg.Path)
	return cfg, nil
}

// command returns the command line that starts the SFTP session.
func (cfg Config) command() []string {
	if len(cfg.Command) > 0 {
		return cfg.Command
	}
	args := []string{"ssh"}
	if cfg.Port != 0 {
		args = append(args, "-p", strconv.Itoa(cfg.Port))
	}
	if cfg.User != "" {
		args = append(args, "-l", cfg.User)
	}
	args = append(args, cfg.Args...)
	return append(args, "-o", "ServerAliveInterval=60", "-o", "ServerAliveCountMax=5", "--", cfg.Host, "-s", "sftp")
}
