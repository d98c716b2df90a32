"""kubesim's TLS material: a throwaway CA and a loopback server certificate, public on purpose.

kubectl (client-go) only sends bearer tokens over TLS, so kubesim serves HTTPS. The CA and the server
certificate (for 127.0.0.1, ::1 and localhost, valid until 2126) are embedded here so that every
install has them; the private key is published with the source: kubesim listens on loopback only and
is not a security boundary. Never trust this CA anywhere else. Regenerate with `openssl req -x509`
(CA, CA:TRUE) and `openssl x509 -req` (server, subjectAltName=IP:127.0.0.1,DNS:localhost,IP:::1).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile

CA_CERT = """-----BEGIN CERTIFICATE-----
MIIDHTCCAgWgAwIBAgIUKufz2TDBD8gS2S6Nmqu2mA+rY/8wDQYJKoZIhvcNAQEL
BQAwFTETMBEGA1UEAwwKa3ViZXNpbS1jYTAgFw0yNjExMjcwNzA3MDhaGA8yMTI2
MTEwMzA3MDcwOFowFTETMBEGA1UEAwwKa3ViZXNpbS1jYTCCASIwDQYJKoZIhvcN
AQEBBQADggEPADCCAQoCggEBAOcQQzmf7WmgkCyz3MRP6ypYoMjgkxmW0rA7fNyb
t3+JeKjk/PDgKuwaPmNZMcjbE6lDopXHcnKn/NN1C1AELEYzxIwos4dagD3Zi2LD
IT4xFMBdRf+B8bE9tnZbvGJsnnzeaiBJm8yUrg5E6yB5HX+0G1R295JijMDldjV5
e45PjZZcdSnaYj0qV2YB4bMjS4okK5Vyby/LPejUCdS33XJ/7t9PIn9ej/PiTknc
p1v6srpcRG4fGYDhDOae1pPcnct6Mm09vorQtJWeIXrLblmA/LxKNgCUXxoYL/pt
ep9F5xjH4PgRlhZYD+ybBKeu3JY/9BpKZGTbN4cER2yWIPUCAwEAAaNjMGEwHQYD
VR0OBBYEFPx70ZIYRqDqcqRLhvfire+kknf/MB8GA1UdIwQYMBaAFPx70ZIYRqDq
cqRLhvfire+kknf/MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMA0G
CSqGSIb3DQEBCwUAA4IBAQBj8A1jv2O4Te3hGnPcqG3VwREBQu5wjFZg9dOWGoHJ
ENo0DCqMwgcrgwJ33zB3jlV/XE7aFgkyChkqp5oI65swC2cocifHGQAOfhKv+Pzq
2XV9wVBty9Fr2IRfX5alUH2sMyK08YLge6RlfFz0IaZkLojSGzDXmL2l+x0GfFoE
5yhmtn1UaqNwGAwkqpUIHDaVXtHUFUCgHFxYZhwwytbooOPULN2REJJl0FGiDwhb
v9SP8Mc431tk1H4GySUp3asav/YDVI0sLqWy3r7z5+mPRym+MCW9EMaZbpTfTcrw
cQT53P4dWxwf0kjwq5gaH52tC90u5hgTa1lNQo4lvW0U
-----END CERTIFICATE-----
"""

SERVER_CERT = """-----BEGIN CERTIFICATE-----
MIIDWTCCAkGgAwIBAgIUAJl7uTtB4ZEOxatgLrleKfWBcOIwDQYJKoZIhvcNAQEL
BQAwFTETMBEGA1UEAwwKa3ViZXNpbS1jYTAgFw0yNjExMjcwNzA3MDhaGA8yMTI2
MTEwMzA3MDcwOFowEjEQMA4GA1UEAwwHa3ViZXNpbTCCASIwDQYJKoZIhvcNAQEB
BQADggEPADCCAQoCggEBALAhixsJHcN9tuBl52x6iO7mATxb7JegDgD/4KzUY5QX
tgvzECULlhUurj+aqPBZVicATEeKPZZDJzuk0iDWwElD/r3TPxO2tqnB1BWZzCZB
MgOyKuLyWbftfkVqHTOVlbK7kNTF9LHAK4ElKmkXFyD6xCVW9dJbpXBdyzOqffEM
3t/KM3NxG1lkakXocrQRxVbVHb/UBk3+PCleXwDz3bPx33VXTs5ec4k3pwZJVR5t
P9lwAavgImeVgRYKj4sIawwioJWQHhyQMv67Pg01LgTquGvs23J78g349Shcxbd2
YxdqWJP4sb4d8n18stjzoOhyKX6bLX/ACnxuR92g9uUCAwEAAaOBoTCBnjAsBgNV
HREEJTAjhwR/AAABgglsb2NhbGhvc3SHEAAAAAAAAAAAAAAAAAAAAAEwEwYDVR0l
BAwwCgYIKwYBBQUHAwEwCQYDVR0TBAIwADAOBgNVHQ8BAf8EBAMCBaAwHQYDVR0O
BBYEFOt+AaJ0kJU5X+VqVNnsLTfa7XwjMB8GA1UdIwQYMBaAFPx70ZIYRqDqcqRL
hvfire+kknf/MA0GCSqGSIb3DQEBCwUAA4IBAQDXHx6gr3xflsmCBI1U9CfrC6g5
eJDlB5YF0gS3da4khQHAXehniDp/hP22Q0zyurra8Tkyac/SIad5qWL56nU0o2Wc
QyGwYbfV5AQYp6LhLNm7h5qkFr6Sa5O8wuyOSDdyIXvx8QHjy1SRYi5eu/bYqMag
qA/HVIekoGdfgxLr9yQi3s92uwLK02OGqXIcqFuKtEEZOumEGOSDQGa26kWx9okK
FcwTBc3Be2/HAAyzG5AEXfF8C8XyZ1nTqvzSWLGfEvqgSxMA4gXroJmtZ9z1h93Z
7xqHSnGLvFOhIwcwg72GPT08njgslM7ny/1nNGQ8cQxUe4PjjZSkxUvwbi+o
-----END CERTIFICATE-----
"""

SERVER_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCwIYsbCR3Dfbbg
Zedseoju5gE8W+yXoA4A/+Cs1GOUF7YL8xAlC5YVLq4/mqjwWVYnAExHij2WQyc7
pNIg1sBJQ/690z8TtrapwdQVmcwmQTIDsiri8lm37X5Fah0zlZWyu5DUxfSxwCuB
JSppFxcg+sQlVvXSW6VwXcszqn3xDN7fyjNzcRtZZGpF6HK0EcVW1R2/1AZN/jwp
Xl8A892z8d91V07OXnOJN6cGSVUebT/ZcAGr4CJnlYEWCo+LCGsMIqCVkB4ckDL+
uz4NNS4E6rhr7Ntye/IN+PUoXMW3dmMXaliT+LG+HfJ9fLLY86Docil+my1/wAp8
bkfdoPblAgMBAAECggEAAWM87v6YZG+QyZ3OlUqLL6P87dZ6O7ZAG1Powj5+IQQ6
zpygoO9sGZ303igVcqdRiBx20rgib2pMsdSaRItMl9yC8kiVc6NPNxvW1EC88gQ2
JP9PWoW28pMFbqiSXaitCuvIDVUYmMSUfdT8IOMqBHwqoByvnR5UZFk+KO8L76KQ
ndh7k142FkqebS84h7thJyWjDH3F4PX59HYghOPrM41ICtrXIdun7mfgZQ+W4vbj
+d/4MiA5m3gtoneiwoOf/rgLwiiUrbAF85SqRebcs9MFpOh/O0zIF/s6/2xOxm/z
zjXUHCX+/wM6Zam035vv2+rbpu4qeyYn69rOwHq1lQKBgQDxwOg9hxknyGXqVfET
4aliy0pWAwkmG13zcN4WRs5wichHtlw96mP6Dr9SzmOO89YHesc0giFolH6D08cx
HJp9X6CPbeav7bu7nuNASYN6UY7PH963ZxBqwM5oV2wm6W0r3sXdXMlqN3iMg/G0
1Ogob87+FhubnottAxv3OLBnpwKBgQC6gqe+IvzUFNvEnv6eTuY1/gL/iNJLbGBd
/Qvx8/AqKcIBcy5OMG/rUT+TYbfbC8vODbSAGdX+5Iybwt9vNt+1+SwOaMZEkU/v
Y9XAAPEHz+v1OyC/KqYrMw717t4DFWbNXoFJJpr2YAcIpwXZ1LT39wrXOfuluJB4
Hjphhk0+kwKBgH2QO0+RtsAR9tUylAdGgsrcWZy48OyI9FA3xDH/zsNm3M5aaiiC
cDD1reudZNpfzT+PRp4AJMgDsH5Z5bCdcaRCocs9Qr8HlCVLzi6awB4s9CaiH/RU
JJO91rcdCQBg5yIND+n8gmSXsRYShdztZDN0dydDZk16mGIjZkgOepkrAoGAMifg
pCkUhJP3ZbC8GCZvkiV0+PL6Wn4SjDP4emB3PV9tZKZs1WoBLu7ygdfNcYKClC7r
U2efPKSJi3mkTGwdTPps9pMGfnn1XRMj8DZQmyE2+wOjksUNWqCobUqHOZ0PwDqh
2eIf2hGI0rLXx/SDlgtBRw+4tKAleafnW0KakzECgYAP3zf7uSc+h0GfAbcaS1T3
xL0Tu8Mss7oIUhhNDDZbh8C66pNrR5Gt/ctUQ9C0UlIZbtQnKYImEhYnHpeqIMZF
dqP2p0pQZE4LAeOsm1PJ/yGWM/g9RS8W9joPvJYgaYIcJxuBrNmSUEo1xlNvKK3w
CYFOHEWeqVyaT/FeGTiXBA==
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
