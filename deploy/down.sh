#!/usr/bin/env bash
# Deletes the Sluice dev cluster made by deploy/up.sh.
set -euo pipefail
kind delete cluster --name "${CLUSTER:-sluice}"
