package io.mcpsandbox.queue;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The order queued items run in: users take turns (round-robin, one item per turn), and within one user's own
 * queue the highest priority first, then the oldest. So one user's 5,000 items delay another user's single one
 * by at most one item per user ahead of it. Not thread-safe: {@link ExecutionQueue} guards it.
 */
final class FairOrder {
    /** What the caller decides for the user whose turn it is. */
    enum Turn {
        /** Run this user's next item. */
        TAKE,
        /** Not this user now (at their running limit): they keep their place; ask the next user. */
        SKIP,
        /** Nothing can start now (no free slot): stop asking. */
        STOP
    }

    /** An item and its place in the run order (1 = next). */
    record Placed(QueuedItem item, int position) {
    }

    private static final Comparator<QueuedItem> WITHIN_USER = Comparator.comparingInt(QueuedItem::priority)
            .reversed().thenComparingLong(QueuedItem::sequence);

    private final Map<String, TreeSet<QueuedItem>> byUser = new HashMap<>();
    /** Users with items, in the order of their next turn. */
    private final LinkedHashSet<String> rotation = new LinkedHashSet<>();
    private final Map<String, QueuedItem> byId = new HashMap<>();
    private long bytes;

    void add(QueuedItem item) {
        if (byId.putIfAbsent(item.executionId(), item) != null) {
            return;
        }
        byUser.computeIfAbsent(item.userId(), u -> new TreeSet<>(WITHIN_USER)).add(item);
        rotation.add(item.userId()); // a user new to the queue takes the last turn
        bytes += item.requestBytes();
    }

    /** Removes a waiting item (a cancel); empty when it is not waiting. */
    Optional<QueuedItem> remove(String executionId) {
        QueuedItem item = byId.remove(executionId);
        if (item == null) {
            return Optional.empty();
        }
        TreeSet<QueuedItem> mine = byUser.get(item.userId());
        mine.remove(item);
        if (mine.isEmpty()) {
            byUser.remove(item.userId());
            rotation.remove(item.userId());
        }
        bytes -= item.requestBytes();
        return Optional.of(item);
    }

    /**
     * Offers the turn to each user in order; the first one {@code turn} takes gives up its next item and goes to
     * the back. Null when no user's item can start now.
     */
    QueuedItem next(Function<String, Turn> turn) {
        for (String user : List.copyOf(rotation)) {
            switch (turn.apply(user)) {
                case TAKE -> {
                    QueuedItem item = byUser.get(user).first();
                    remove(item.executionId());
                    if (byUser.containsKey(user)) {
                        rotation.remove(user);
                        rotation.add(user);
                    }
                    return item;
                }
                case STOP -> {
                    return null;
                }
                case SKIP -> {
                    // keeps its place
                }
            }
        }
        return null;
    }

    Optional<QueuedItem> find(String executionId) {
        return Optional.ofNullable(byId.get(executionId));
    }

    /**
     * Where an item stands (1 = next) if every turn is taken: each user ahead of its owner in this round runs
     * up to rank+1 items first, each user behind up to rank items.
     */
    Optional<Integer> position(String executionId) {
        QueuedItem item = byId.get(executionId);
        if (item == null) {
            return Optional.empty();
        }
        int rank = byUser.get(item.userId()).headSet(item).size();
        int ahead = rank;
        boolean before = true;
        for (String user : rotation) {
            if (user.equals(item.userId())) {
                before = false;
                continue;
            }
            ahead += Math.min(byUser.get(user).size(), before ? rank + 1 : rank);
        }
        return Optional.of(ahead + 1);
    }

    /** The first {@code limit} items in run order that {@code include} accepts, with their positions. */
    List<Placed> ordered(Predicate<QueuedItem> include, int limit) {
        List<Placed> out = new ArrayList<>();
        Map<String, Iterator<QueuedItem>> cursors = new HashMap<>();
        rotation.forEach(u -> cursors.put(u, byUser.get(u).iterator()));
        int position = 0;
        boolean more = true;
        while (more && out.size() < limit) {
            more = false;
            for (String user : rotation) {
                Iterator<QueuedItem> it = cursors.get(user);
                if (!it.hasNext()) {
                    continue;
                }
                more = true;
                QueuedItem item = it.next();
                position++;
                if (include.test(item)) {
                    out.add(new Placed(item, position));
                    if (out.size() >= limit) {
                        break;
                    }
                }
            }
        }
        return out;
    }

    int size() {
        return byId.size();
    }

    int size(String userId) {
        TreeSet<QueuedItem> mine = byUser.get(userId);
        return mine == null ? 0 : mine.size();
    }

    /** Users with items waiting. */
    int users() {
        return byUser.size();
    }

    /** The most items one user has waiting. */
    int largestUser() {
        return byUser.values().stream().mapToInt(TreeSet::size).max().orElse(0);
    }

    long bytes() {
        return bytes;
    }
}
