'use strict';
// The adcli extension: the grammar and language configuration are declared in package.json; this
// file only runs the language server (`adcli lsp` by default) over stdio and talks to it through
// vscode-languageclient. Plain CommonJS, so the extension needs no build step.

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

const INSTALL_HINT = 'pip install "adcli[lsp]"';

let client;
// One output channel for every server this window starts: the server's stderr and the
// adcli.trace.server log stay in one place across restarts.
let output;
// Starts and stops run one after another, so that quick edits of the settings cannot leave two
// servers running.
let queue = Promise.resolve();

function serverOptions() {
  const config = vscode.workspace.getConfiguration('adcli');
  const command = config.get('server.command') || 'adcli';
  const args = config.get('server.args') || ['lsp'];
  // No transport given: stdio, without the `--stdio` argument TransportKind.stdio would append.
  const run = { command, args };
  return { run, debug: run };
}

function clientOptions() {
  return {
    documentSelector: [
      { scheme: 'file', language: 'adcli' },
      { scheme: 'untitled', language: 'adcli' },
    ],
    outputChannel: output,
    // A failed initialize rejects start(), whose error message below says what to do.
    initializationFailedHandler: () => false,
  };
}

async function start() {
  const options = serverOptions();
  // The id 'adcli' makes the client read the adcli.trace.server setting by itself.
  const next = new LanguageClient('adcli', 'adcli', options, clientOptions());
  client = next;
  try {
    await next.start();
  } catch (error) {
    const command = [options.run.command, ...options.run.args].join(' ');
    const reason = error && error.message ? error.message : String(error);
    // Not awaited: the message stays up while later restarts go ahead.
    vscode.window
      .showErrorMessage(
        `adcli: could not start the language server with \`${command}\` (${reason}). ` +
          `Install it with \`${INSTALL_HINT}\`, or set adcli.server.command to the adcli program.`,
        'Show Output',
        'Open Settings',
        'Retry',
      )
      .then((choice) => {
        if (choice === 'Show Output') {
          output.show(true);
        } else if (choice === 'Open Settings') {
          vscode.commands.executeCommand('workbench.action.openSettings', 'adcli.server');
        } else if (choice === 'Retry') {
          restart();
        }
      });
  }
}

async function stop() {
  const old = client;
  client = undefined;
  if (!old) {
    return;
  }
  try {
    // dispose stops a running server and releases the client.
    await old.dispose();
  } catch (error) {
    // A server that never started, or has already exited, has nothing left to shut down.
  }
}

function restart() {
  // start() reports a server that does not start; this catches anything else, so the queue goes on.
  queue = queue
    .then(stop)
    .then(start)
    .catch((error) => vscode.window.showErrorMessage(`adcli: ${error && error.message ? error.message : error}`));
  return queue;
}

function activate(context) {
  output = vscode.window.createOutputChannel('adcli');
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('adcli.restartServer', restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // The trace setting applies without a restart; the command and its arguments need one.
      if (event.affectsConfiguration('adcli.server')) {
        restart();
      }
    }),
  );
  return restart();
}

function deactivate() {
  queue = queue.then(stop);
  return queue;
}

module.exports = { activate, deactivate };
