"use strict";
// State written by keyfleet 0.1 serialized its Genesys keys' provider as a require() of this file,
// before inputs named their vendor; it stays so that such state keeps working.
module.exports = require("./index.js").pinned("nexus");
