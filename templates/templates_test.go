package templates

import "testing"

func TestArgQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"plain/value.1":  "plain/value.1",
		"":               "''",
		"a b":            "'a b'",
		"it's":           `"it's"`,
		`a"b`:            `'a"b'`,
		`it's "$x" \ #y`: `"it's \"\$x\" \\ #y"`,
		"tab\there":      `"tab\x09here"`,
		"#comment":       "'#comment'",
		"!neg":           "'!neg'",
	} {
		if got := Arg(in); got != want {
			t.Errorf("Arg(%q) = %s, want %s", in, got, want)
		}
	}
	if got := LogFormat("100% %[src]"); got != "'100%% %%[src]'" {
		t.Errorf("LogFormat = %s", got)
	}
	if got := pattern("-i"); got != "-- -i" {
		t.Errorf("pattern(-i) = %s", got)
	}
}
