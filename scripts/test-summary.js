// Prints one line "N passed, M failed" over jest's JSON report and pytest's JUnit XML.
const fs = require('fs');
const [jestJson, junit] = process.argv.slice(2);
let passed = 0;
let failed = 0;
if (fs.existsSync(jestJson)) {
  const j = JSON.parse(fs.readFileSync(jestJson, 'utf8'));
  passed += j.numPassedTests;
  failed += j.numFailedTests + (j.numRuntimeErrorTestSuites || 0);
  const skipped = (j.numPendingTests || 0) + (j.numTodoTests || 0);
  if (skipped > 0) {
    console.log(`jest skipped ${skipped} tests: skipping is not allowed`);
    failed += skipped;
  }
} else failed += 1;
if (fs.existsSync(junit)) {
  const x = fs.readFileSync(junit, 'utf8');
  const m = /<testsuite [^>]*>/.exec(x);
  const attr = (k) => Number((new RegExp(`${k}="(\\d+)"`).exec(m ? m[0] : '') || [0, 0])[1]);
  const total = attr('tests');
  const bad = attr('failures') + attr('errors');
  failed += bad;
  passed += total - bad - attr('skipped');
  if (attr('skipped') > 0) { console.log(`pytest skipped ${attr('skipped')} tests: skipping is not allowed`); failed += attr('skipped'); }
} else failed += 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
