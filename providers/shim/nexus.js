"use strict";
// Genesys Digital Channels keys: providers/nexus/provider.ts.
module.exports = require("./index.js")("@keyfleet/providers/nexus/provider");
