package render

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// optionPrefix is the prefix of the listener TLS options hagate reads;
// options of other prefixes belong to other implementations and are
// ignored.
const optionPrefix = "hagate.io/"

// tlsOptionKeys maps each supported option to the HAProxy crt-list line
// keyword it becomes and the check of its value.
var tlsOptionKeys = map[string]struct {
	keyword string
	check   func(string) error
}{
	"hagate.io/ssl-min-ver":  {"ssl-min-ver", checkTLSVersion},
	"hagate.io/ssl-max-ver":  {"ssl-max-ver", checkTLSVersion},
	"hagate.io/ciphers":      {"ciphers", checkCiphers},
	"hagate.io/ciphersuites": {"ciphersuites", checkCipherSuites},
	"hagate.io/alpn":         {"alpn", checkALPN},
	"hagate.io/curves":       {"curves", checkCurves},
}

var tlsVersions = []string{"TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"}

func checkTLSVersion(v string) error {
	for _, x := range tlsVersions {
		if v == x {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(tlsVersions, ", "))
}

// cipherNames are the OpenSSL (3.0) names of TLS 1.2 and older cipher
// suites, and cipherKeywords the words of OpenSSL cipher strings.
var (
	cipherNames = strings.Fields(`ADH-AES128-GCM-SHA256 ADH-AES128-SHA ADH-AES128-SHA256 ADH-AES256-GCM-SHA384 ADH-AES256-SHA
ADH-AES256-SHA256 ADH-CAMELLIA128-SHA ADH-CAMELLIA128-SHA256 ADH-CAMELLIA256-SHA ADH-CAMELLIA256-SHA256 AECDH-AES128-SHA
AECDH-AES256-SHA AECDH-NULL-SHA AES128-CCM AES128-CCM8 AES128-GCM-SHA256 AES128-SHA AES128-SHA256 AES256-CCM AES256-CCM8
AES256-GCM-SHA384 AES256-SHA AES256-SHA256 ARIA128-GCM-SHA256 ARIA256-GCM-SHA384 CAMELLIA128-SHA CAMELLIA128-SHA256
CAMELLIA256-SHA CAMELLIA256-SHA256 DHE-DSS-AES128-GCM-SHA256 DHE-DSS-AES128-SHA DHE-DSS-AES128-SHA256 DHE-DSS-AES256-GCM-SHA384
DHE-DSS-AES256-SHA DHE-DSS-AES256-SHA256 DHE-RSA-AES128-CCM DHE-RSA-AES128-CCM8 DHE-RSA-AES128-GCM-SHA256 DHE-RSA-AES128-SHA
DHE-RSA-AES128-SHA256 DHE-RSA-AES256-CCM DHE-RSA-AES256-CCM8 DHE-RSA-AES256-GCM-SHA384 DHE-RSA-AES256-SHA DHE-RSA-AES256-SHA256
DHE-RSA-ARIA128-GCM-SHA256 DHE-RSA-ARIA256-GCM-SHA384 DHE-RSA-CAMELLIA128-SHA DHE-RSA-CAMELLIA128-SHA256 DHE-RSA-CAMELLIA256-SHA
DHE-RSA-CAMELLIA256-SHA256 DHE-RSA-CHACHA20-POLY1305 ECDHE-ARIA128-GCM-SHA256 ECDHE-ARIA256-GCM-SHA384 ECDHE-ECDSA-AES128-CCM
ECDHE-ECDSA-AES128-CCM8 ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES256-CCM
ECDHE-ECDSA-AES256-CCM8 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-AES256-SHA ECDHE-ECDSA-AES256-SHA384
ECDHE-ECDSA-ARIA128-GCM-SHA256 ECDHE-ECDSA-ARIA256-GCM-SHA384 ECDHE-ECDSA-CAMELLIA128-SHA256 ECDHE-ECDSA-CAMELLIA256-SHA384
ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES128-SHA ECDHE-RSA-AES128-SHA256
ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-AES256-SHA ECDHE-RSA-AES256-SHA384 ECDHE-RSA-CAMELLIA128-SHA256
ECDHE-RSA-CAMELLIA256-SHA384 ECDHE-RSA-CHACHA20-POLY1305`)
	cipherKeywords = strings.Fields(`ALL COMPLEMENTOFALL DEFAULT COMPLEMENTOFDEFAULT HIGH MEDIUM LOW aNULL eNULL NULL kRSA aRSA RSA
kEDH kDHE EDH DHE DH kEECDH kECDHE EECDH ECDHE ECDH aECDSA ECDSA aDSS DSS AES AES128 AES256 AESGCM AESCCM AESCCM8 CHACHA20
CAMELLIA CAMELLIA128 CAMELLIA256 ARIA ARIA128 ARIA256 SHA SHA1 SHA256 SHA384 MD5 PSK SRP SUITEB128 SUITEB128ONLY SUITEB192
TLSv1.2 TLSv1.0 TLSv1 SSLv3 @STRENGTH`)
	cipherSuites13 = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}
	curveNames     = []string{"X25519", "X448", "P-256", "P-384", "P-521", "prime256v1", "secp256r1", "secp384r1", "secp521r1", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"}
	secLevelRE     = regexp.MustCompile(`^@SECLEVEL=[0-5]$`)
)

func inList(v string, list []string) bool {
	for _, x := range list {
		if v == x {
			return true
		}
	}
	return false
}

// checkCiphers accepts an OpenSSL cipher string made of known names and
// keywords: "ECDHE-RSA-AES128-GCM-SHA256:!aNULL:HIGH+AESGCM".
func checkCiphers(v string) error {
	if v == "" {
		return fmt.Errorf("is empty")
	}
	positive := false
	for _, item := range strings.Split(v, ":") {
		if !strings.HasPrefix(item, "!") && !strings.HasPrefix(item, "-") && !strings.HasPrefix(item, "@") {
			positive = true
		}
		word := strings.TrimLeft(item, "!-+")
		if word == "" {
			return fmt.Errorf("%q has an empty element", v)
		}
		if secLevelRE.MatchString(word) {
			if word > "@SECLEVEL=3" {
				return fmt.Errorf("%q leaves no usable cipher with the certificates HAProxy loads (at most @SECLEVEL=3)", word)
			}
			continue
		}
		for _, part := range strings.Split(word, "+") {
			if !inList(part, cipherNames) && !inList(part, cipherKeywords) {
				return fmt.Errorf("%q is not an OpenSSL cipher name or keyword", part)
			}
		}
	}
	if !positive {
		return fmt.Errorf("%q selects no cipher (it needs a name or keyword to include)", v)
	}
	return nil
}

func checkCipherSuites(v string) error {
	for _, s := range strings.Split(v, ":") {
		if !inList(s, cipherSuites13) {
			return fmt.Errorf("%q is not a TLS 1.3 cipher suite (%s)", s, strings.Join(cipherSuites13, ", "))
		}
	}
	return nil
}

var alpnRE = regexp.MustCompile(`^[a-z0-9][a-z0-9./-]{0,31}$`)

func checkALPN(v string) error {
	for _, p := range strings.Split(v, ",") {
		if !alpnRE.MatchString(p) {
			return fmt.Errorf("%q is not an ALPN protocol name (such as h2 or http/1.1)", p)
		}
	}
	return nil
}

func checkCurves(v string) error {
	for _, c := range strings.Split(v, ":") {
		if !inList(c, curveNames) {
			return fmt.Errorf("%q is not a supported curve (%s)", c, strings.Join(curveNames, ", "))
		}
	}
	return nil
}

// listenerTLSOptions checks the hagate.io/ options of a listener and
// returns them as crt-list line options, in key order. Any unknown
// hagate.io/ key or bad value is an error naming the key.
func listenerTLSOptions(opts map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue) ([]string, error) {
	var keys []string
	for k := range opts {
		if strings.HasPrefix(string(k), optionPrefix) {
			keys = append(keys, string(k))
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		o, ok := tlsOptionKeys[k]
		if !ok {
			var known []string
			for x := range tlsOptionKeys {
				known = append(known, x)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("TLS option %s is not supported (supported: %s)", k, strings.Join(known, ", "))
		}
		v := string(opts[gwapiv1.AnnotationKey(k)])
		if err := o.check(v); err != nil {
			return nil, fmt.Errorf("TLS option %s: %v", k, err)
		}
		out = append(out, o.keyword+" "+v)
	}
	lo, hi := string(opts["hagate.io/ssl-min-ver"]), string(opts["hagate.io/ssl-max-ver"])
	if lo == "" {
		lo = "TLSv1.2" // hagate's ssl-default-bind-options
	}
	if hi != "" && lo > hi {
		return nil, fmt.Errorf("TLS option hagate.io/ssl-max-ver %s is below the minimum TLS version %s (hagate.io/ssl-min-ver, TLSv1.2 unless set)", hi, lo)
	}
	return out, nil
}
