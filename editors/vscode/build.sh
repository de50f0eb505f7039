#!/usr/bin/env bash
# Builds adcli-0.1.0.vsix here: the grammar copied fresh from grammars/, the language client
# installed into node_modules (vsce packs it into the .vsix), then vsce.
set -euo pipefail
cd "$(dirname "$0")"
cp ../../grammars/adcli.tmLanguage.json syntaxes/
npm install --no-audit --no-fund
# The extension is installed from this file, not from a repository: vsce need not ask for one.
npx vsce package --allow-missing-repository --out adcli-0.1.0.vsix
