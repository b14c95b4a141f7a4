# Shared by every bats file.  make check sets EVPIPE_SRCDIR,
bats_require_minimum_version 1.5.0
# EVPIPE_BUILDDIR, PATH (the built tools first), MANDOC and PYTHON3.

: "${EVPIPE_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${EVPIPE_BUILDDIR:=$EVPIPE_SRCDIR}"
: "${PYTHON3:=/usr/bin/python3}"
DATA=$EVPIPE_SRCDIR/tests/data
PEERS=$EVPIPE_SRCDIR/tests/peers

# Generate the Python protobuf module for our .proto once per file.
pyproto_setup() {
	PYPROTO=$BATS_FILE_TMPDIR/py
	mkdir -p "$PYPROTO"
	protoc --python_out="$PYPROTO" -I"$EVPIPE_SRCDIR/proto" \
	    "$EVPIPE_SRCDIR/proto/cloudevent.proto"
}

# The independent codec (Google's protobuf runtime).
cecodec() {
	PYTHONPATH=$BATS_FILE_TMPDIR/py "$PYTHON3" "$PEERS/cecodec.py" "$@"
}

# Bytes of a file as hex, for exact comparisons in failure output.
hex() {
	od -An -tx1 -v "$@" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

# Run a pipeline in bash with pipefail, capturing its stderr in $stderr_file.
setup_tmp() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

# make_certs DIR: a test PKI in DIR (PKI NAME gives a path in it, for
# DIR = $BATS_FILE_TMPDIR/pki): a CA (ca.pem, ca.key) and a second, wrong
# one (otherca); signed by ca: server (localhost, SAN IP:127.0.0.1 and
# DNS:localhost), elsewhere (DNS:elsewhere.example only) and client
# (DNS:client); signed by otherca: intruder (DNS:intruder).  Each NAME
# has NAME.pem and NAME.key.
make_certs() {
	mkdir -p "$1" && (
		cd "$1" || exit 1
		for ca in ca otherca; do
			openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
			    -subj "/CN=$ca" -keyout $ca.key -out $ca.pem \
			    2>/dev/null || exit 1
		done
		make_cert server localhost "IP:127.0.0.1,DNS:localhost" ca &&
		    make_cert elsewhere elsewhere.example \
			"DNS:elsewhere.example" ca &&
		    make_cert client client "DNS:client" ca &&
		    make_cert intruder intruder "DNS:intruder" otherca
	)
}

# make_cert NAME CN SAN CA: NAME.key and NAME.pem, signed by CA, in the
# current directory.
make_cert() {
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" \
	    -keyout "$1.key" -out "$1.csr" 2>/dev/null &&
	    printf 'subjectAltName=%s\n' "$3" > "$1.ext" &&
	    openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" \
		-CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem" \
		2>/dev/null
}

PKI() { echo "$BATS_FILE_TMPDIR/pki/$1"; }
