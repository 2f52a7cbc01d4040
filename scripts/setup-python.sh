#!/usr/bin/env bash
# Creates the Python virtual environment the OTLP conformance tests (tests/conformance.rs) run their
# helper in, and prints the venv's python as the last line of stdout, for NANOTEL_PYTHON:
#
#   export NANOTEL_PYTHON="$(scripts/setup-python.sh | tail -n 1)"
#
# Idempotent: an environment built from the current tests/conformance/requirements.txt is reused as
# is, so a second run costs one Python start. Progress and pip's output go to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/conformance-venv"
requirements="$root/tests/conformance/requirements.txt"
python="$venv/bin/python"
stamp="$venv/.requirements.sha256"

want="$(sha256sum "$requirements" | cut -d ' ' -f 1)"

# The stamp is written only after a complete install, so an interrupted run is redone; the import
# catches a venv whose base interpreter has since been upgraded or removed.
if [[ -x "$python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$python" -c 'import grpc, google.protobuf.json_format, google.rpc.status_pb2, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc' 2>/dev/null; then
    echo "$python"
    exit 0
fi

if ! command -v python3 >/dev/null; then
    echo "setup-python: python3 not found; install it (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
fi

# Debian splits ensurepip (needed by `python3 -m venv`) into the python3-venv package.
if ! python3 -c 'import ensurepip' 2>/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "setup-python: installing python3-venv for ensurepip" >&2
        apt-get -o Acquire::Retries=5 update >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y python3-venv >&2
    else
        echo "setup-python: python3 lacks ensurepip; install python3-venv (Debian) and retry" >&2
        exit 1
    fi
fi

echo "setup-python: creating $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$python" -m pip install --disable-pip-version-check --no-input --quiet --retries 10 --prefer-binary \
    -r "$requirements" >&2
echo "$want" >"$stamp"
echo "$python"
