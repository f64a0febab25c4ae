/* eslint-disable */
// Development/test only: lets `declip eval run --workers N` fork worker.ts when running from TypeScript
// sources (jest, ts sources without a build). Compiled builds fork dist/eval/run/worker.js instead.
const fs = require('fs');
const ts = require('typescript');
require.extensions['.ts'] = function (module, filename) {
  const src = fs.readFileSync(filename, 'utf8');
  const out = ts.transpileModule(src, {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      resolveJsonModule: true,
      sourceMap: false,
    },
  });
  module._compile(out.outputText, filename);
};
