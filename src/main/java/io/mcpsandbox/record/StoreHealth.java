package io.mcpsandbox.record;

/**
 * How the execution store is doing.
 *
 * @param ok            records go where they should and none is waiting to be written
 * @param backend       "sqlite" or "redis"
 * @param detail        a sentence for humans (health endpoint, logs); never carries a password
 * @param pendingWrites records kept in the embedded store until Redis answers again
 */
public record StoreHealth(boolean ok, String backend, String detail, long pendingWrites) {
}
