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
