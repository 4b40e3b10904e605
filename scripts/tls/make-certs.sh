#!/usr/bin/env bash
# Certificates for the local TLS+SASL broker: a throw-away CA, a broker certificate for
# 127.0.0.1/localhost signed by it, the broker's PKCS#12 keystore (openssl) and a truststore
# holding the CA (the JDK's keytool). Clients (the services) only need ca.crt (KAFKA_SSL_CAFILE).
#
#   scripts/tls/make-certs.sh [OUT_DIR]        default OUT_DIR: .local/tls
#
# The store password is generated and written to OUT_DIR/store-password (mode 600). Nothing here
# is for production: real clusters get their certificates from the organisation's PKI.
set -euo pipefail

OUT="${1:-$(cd "$(dirname "$0")/../.." && pwd)/.local/tls}"
DAYS="${TLS_DAYS:-30}"
mkdir -p "$OUT"
chmod 700 "$OUT"
cd "$OUT"
umask 077

command -v openssl >/dev/null || { echo "make-certs: openssl is required (apt-get install openssl)" >&2; exit 1; }
command -v keytool >/dev/null || { echo "make-certs: keytool is required (it comes with the JDK: openjdk-17-jre-headless)" >&2; exit 1; }

if [[ -s store-password ]]; then
  PASS="$(cat store-password)"
else
  PASS="$(openssl rand -hex 16)"
  printf '%s' "$PASS" > store-password
fi

# 1. the CA
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days "$DAYS" \
  -subj "/CN=referral-bus local CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# 2. the broker's key and certificate, valid for the addresses clients connect to
openssl req -newkey rsa:2048 -sha256 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
cat > broker.ext <<EXT
subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature,keyEncipherment
EXT
openssl x509 -req -sha256 -days "$DAYS" -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -extfile broker.ext -out broker.crt 2>/dev/null

# 3. the broker's keystore (key + chain) and the truststore (the CA) for its own client side
rm -f broker.p12 truststore.p12
openssl pkcs12 -export -name broker -in broker.crt -inkey broker.key -certfile ca.crt \
  -out broker.p12 -passout "pass:$PASS"
keytool -importcert -noprompt -alias referral-bus-ca -file ca.crt \
  -keystore truststore.p12 -storetype PKCS12 -storepass "$PASS" >/dev/null 2>&1

rm -f broker.csr broker.ext ca.srl
chmod 644 ca.crt
echo "certificates in $OUT: ca.crt (clients' KAFKA_SSL_CAFILE), broker.p12, truststore.p12, store-password"
