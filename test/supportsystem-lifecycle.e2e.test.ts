// SupportSystem keys through pulumi up over the database transport (keys are rows of the help
// desk's MySQL table); the steps are in test/helpers/supportsystem-lifecycle.ts.
import { supportSystemLifecycle } from "./helpers/supportsystem-lifecycle.ts";

supportSystemLifecycle("database");
