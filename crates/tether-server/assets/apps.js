// The apps page: built out in its own commit. Until then it only says it is ready.
import { markReady } from "./common.js";

markReady();
