// The schema of config/<environment>.yaml: the desired set of API keys of one environment, one
// section per vendor (each vendor's descriptor brings its own, see providers/vendors.ts).
// It is the single source of both the validation keyfleet runs (zod) and config/schema.json, the
// JSON Schema editors use (generated from this file by `npm run schema`). Rules JSON Schema cannot
// say (unique names per scope) come from each descriptor's `rules`, applied in config/load.ts.
import { z } from "zod";
import { vendors } from "../providers/vendors.ts";
import { Rotation } from "../providers/shared/rotation.ts";
import { withDeliveries } from "../providers/shared/delivery.ts";

export const Defaults = z
    .strictObject({
        rotation: Rotation.optional().describe("Rotation of every key; a key's own rotation overrides it field by field."),
    })
    .describe("Settings every key inherits.");

// Every key entry also takes the core's `deliver` (its consumers), added here for all vendors alike.
const sections: Record<string, z.ZodType> = Object.fromEntries(vendors.map((v) => [v.section, withDeliveries(v.schema).optional()]));

export const Environment = z
    .strictObject({ defaults: Defaults.optional(), ...sections })
    .describe("keyfleet: the API keys of one environment. The stack's Pulumi.<stack>.yaml holds endpoints and credentials.");

export type Environment = { defaults?: z.infer<typeof Defaults> } & Record<string, unknown>;
