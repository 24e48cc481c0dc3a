'use strict';

// Reads a JSON array of SenseConfiguration objects on stdin, runs the real
// enigma.js buildUrl on each and prints the URLs as a JSON array, in order.
//
// JSON has no NaN or infinities, so an object whose only key is "$number"
// stands for one: {"$number": "NaN"}, {"$number": "Infinity"} or
// {"$number": "-Infinity"}. A row that throws gives {"error": message}.

const fs = require('fs');
const SenseUtilities = require('enigma.js/sense-utilities');

const NUMBERS = { NaN, Infinity, '-Infinity': -Infinity };

function revive(key, value) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$number'
        && Object.prototype.hasOwnProperty.call(NUMBERS, value.$number)) {
      return NUMBERS[value.$number];
    }
  }
  return value;
}

const configs = JSON.parse(fs.readFileSync(0, 'utf8'), revive);
const urls = configs.map((config) => {
  try {
    // buildUrl writes its defaults into its argument: give it a copy.
    return SenseUtilities.buildUrl(structuredClone(config));
  } catch (error) {
    return { error: String(error && error.message) };
  }
});
process.stdout.write(JSON.stringify(urls));
