package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// A kubelet stand-in (the conformance harness's) serves what the API
// server asks kubelets for, such as Pod logs (pods/log), on a loopback
// address with the certificate KubeletServing names: the API server
// trusts it (--kubelet-certificate-authority).

// kubeletCert and kubeletKey are the kubelet stand-in's serving
// certificate (self-signed, for 127.0.0.1 and localhost) and key, in pki/.
const (
	kubeletCert = "kubelet.crt"
	kubeletKey  = "kubelet.key"
)

// KubeletServing returns the paths of the certificate and key a kubelet
// stand-in serves HTTPS with, on 127.0.0.1, for the API server to reach it.
func (c *Cluster) KubeletServing() (certFile, keyFile string) {
	return filepath.Join(c.Dir, "pki", kubeletCert), filepath.Join(c.Dir, "pki", kubeletKey)
}

// writeKubeletCert writes a self-signed serving certificate and key for a
// kubelet stand-in on 127.0.0.1 into pki.
func writeKubeletCert(pki string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-kubelet"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pki, kubeletCert), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(pki, kubeletKey), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}
