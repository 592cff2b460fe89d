package cli

import "testing"

func TestUserText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"repo: pack 1a2b: pack: corrupt: blob 3c4d: crypto: message authentication failed",
			"pack 1a2b: corrupt: blob 3c4d: message authentication failed"},
		{"restore: target /srv/repo: is not writable", "target /srv/repo: is not writable"},
		{"backup: /home/ann/a.txt: context canceled", "/home/ann/a.txt: interrupted"},
		{"crypto: wrong password or no key found", "wrong password or no key found"},
		{"/data/pack: not a directory", "/data/pack: not a directory"},
	} {
		if got := userText(c.in); got != c.want {
			t.Errorf("userText(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}
