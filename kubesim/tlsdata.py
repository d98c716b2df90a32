"""kubesim's TLS material: a throwaway CA and a loopback server certificate, public on purpose.

kubectl (client-go) only sends bearer tokens over TLS, so kubesim serves HTTPS. The CA and the server
certificate (for 127.0.0.1, ::1 and localhost, valid 2024-2126) are embedded here so that every
install has them; the private key is published with the source: kubesim listens on loopback only and
is not a security boundary. Never trust this CA anywhere else. Keys are ECDSA P-256: a handshake signs
with the server key, and P-256 signs ~30 times faster than RSA-2048. Regenerate with `openssl ecparam
-name prime256v1 -genkey`, then `openssl ca -selfsign` (CA: CA:TRUE, keyCertSign) and `openssl ca`
(server: serverAuth, subjectAltName=IP:127.0.0.1,DNS:localhost,IP:::1), both with `-startdate`.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile

CA_CERT = """-----BEGIN CERTIFICATE-----
MIIBXjCCAQSgAwIBAgICEAAwCgYIKoZIzj0EAwIwFTETMBEGA1UEAwwKa3ViZXNp
bS1jYTAgFw0yNDAxMDEwMDAwMDBaGA8yMTI2MTEwMTAwMDAwMFowFTETMBEGA1UE
AwwKa3ViZXNpbS1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABOhnDJfJOJhP
4Jt5ER/+sU/xz+kzYKFTP5QQ9jpkQaCTZCyFafKDuQt95TvmqhyFhww3/fmVOADM
kLL3Ur4hGZ2jQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0G
A1UdDgQWBBRLYB0q8guHK1N5WJUF015ESFWT2zAKBggqhkjOPQQDAgNIADBFAiEA
3Iffw8Oxl9XGEqRtgAuCntmLh5C6WfEbXdcV0a5xLf4CIEFdNLCKBsFDj9ojUDNY
pd/p9+UUsEctQFMbSdfKbOPP
-----END CERTIFICATE-----
"""

SERVER_CERT = """-----BEGIN CERTIFICATE-----
MIIBuzCCAWGgAwIBAgICEAEwCgYIKoZIzj0EAwIwFTETMBEGA1UEAwwKa3ViZXNp
bS1jYTAgFw0yNDAxMDEwMDAwMDBaGA8yMTI2MTEwMTAwMDAwMFowEjEQMA4GA1UE
AwwHa3ViZXNpbTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABE9Vur+qyrZoongw
szgUQQ2tftRFMDqlN+auWkzCsJLw7zkFjCpgCuwjl5c+EiNVEB43sCITCuK8hVIc
GJc5/eqjgaEwgZ4wCQYDVR0TBAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAww
CgYIKwYBBQUHAwEwLAYDVR0RBCUwI4cEfwAAAYIJbG9jYWxob3N0hxAAAAAAAAAA
AAAAAAAAAAABMB0GA1UdDgQWBBTfLrZXyEvLOlK0eYY9ymnbKruYDDAfBgNVHSME
GDAWgBRLYB0q8guHK1N5WJUF015ESFWT2zAKBggqhkjOPQQDAgNIADBFAiBr4hZZ
iAQxjzcHsO56/XCfoGUMF470Kkli30LC4oKQ5AIhAL4kiWYkuF46AtD4P3YqO0dW
jrEZ9X8JcSthTo9eWI5D
-----END CERTIFICATE-----
"""

SERVER_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQqYiG48YceLgbEVh
kzeTyUZQ5HuX4VnXs1rmgCD9iQ+hRANCAARPVbq/qsq2aKJ4MLM4FEENrX7URTA6
pTfmrlpMwrCS8O85BYwqYArsI5eXPhIjVRAeN7AiEwrivIVSHBiXOf3q
-----END PRIVATE KEY-----
"""


def ca_data() -> str:
    """The CA certificate, base64-encoded as kubeconfig's certificate-authority-data wants it."""
    return base64.b64encode(CA_CERT.encode()).decode()


def server_context() -> ssl.SSLContext:
    """An SSL context serving the loopback certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="kubesim-tls-") as folder:
        cert, key = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
        with open(cert, "w", encoding="ascii") as handle:
            handle.write(SERVER_CERT + CA_CERT)
        with open(key, "w", encoding="ascii") as handle:
            handle.write(SERVER_KEY)
        context.load_cert_chain(cert, key)
    return context


def client_context() -> ssl.SSLContext:
    """An SSL context trusting kubesim's CA (for raw HTTP clients in tests and benchmarks)."""
    return ssl.create_default_context(cadata=CA_CERT)
