// Every vendor keyfleet manages: adding one is its folder, its sandbox and a line here.
import type { VendorDescriptor } from "./shared/descriptor.ts";
import { beyondtrust } from "./beyondtrust/descriptor.ts";
import { nexus } from "./nexus/descriptor.ts";
import { supportcenter } from "./supportcenter/descriptor.ts";
import { supportsystem } from "./supportsystem/descriptor.ts";

export const vendors: readonly VendorDescriptor<any>[] = [nexus, beyondtrust, supportcenter, supportsystem];
