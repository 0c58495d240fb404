package ir

// The folders of the configuration root that hold the files HAProxy reads
// besides haproxy.cfg, each with its trailing slash. Paths in the IR
// (Certificate.Path, CAFile.Path) and the files templates name start with
// one of them; every file in them belongs to the configuration (a file
// there that a configuration does not hold was left by an earlier one).
const (
	// DirCerts holds the certificate files: chain then private key,
	// "certs/<namespace>/<name>.pem".
	DirCerts = "certs/"
	// DirCAs holds the CA files binds and servers verify peers with.
	DirCAs = "cas/"
	// DirCrtLists holds one crt-list per TLS frontend,
	// "crt-lists/<frontend>.crt-list".
	DirCrtLists = "crt-lists/"
	// DirMaps holds the map files of the HTTP frontends,
	// "maps/<frontend>.<what>.map".
	DirMaps = "maps/"
)
