#!/usr/bin/env bash
# Install this repository's paczero package into the new environment.
# Snakemake copies the environment file elsewhere, so a relative pip path in
# paczero.yaml would not find the repository; this script's own path does.
set -euo pipefail
python -m pip install --editable "$(cd "$(dirname "$0")/.." && pwd)"
