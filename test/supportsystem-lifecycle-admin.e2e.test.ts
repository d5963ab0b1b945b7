// SupportSystem keys through pulumi up over the admin-panel transport (issue 15): the same steps as
// the database transport's, from test/helpers/supportsystem-lifecycle.ts.
import { supportSystemLifecycle } from "./helpers/supportsystem-lifecycle.ts";

supportSystemLifecycle("admin");
