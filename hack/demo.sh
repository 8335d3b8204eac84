#!/usr/bin/env bash
# The driver's main job end to end on this machine, with the dsmc simulator as TSM.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./hack/demo
