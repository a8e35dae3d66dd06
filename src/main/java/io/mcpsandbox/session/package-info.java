/**
 * Sessions: sandboxes that live across calls, owned by one user (docs/sessions.md). The registry of live
 * sessions, their lifetimes (idle timeout, hard lifetime, caps), their records, and the lease the execution
 * pipeline takes to run a program in one. Imports policy, image, runtime and record; never execution or api.
 */
package io.mcpsandbox.session;
