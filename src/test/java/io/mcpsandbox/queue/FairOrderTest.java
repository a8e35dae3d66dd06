package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FairOrderTest {
    private long sequence;

    private QueuedItem item(String user, int priority) {
        sequence++;
        return new QueuedItem(user + "-" + sequence, user, priority, sequence, Instant.EPOCH, 10);
    }

    private static List<String> drain(FairOrder order) {
        List<String> ids = new ArrayList<>();
        QueuedItem next;
        while ((next = order.next(u -> FairOrder.Turn.TAKE)) != null) {
            ids.add(next.executionId());
        }
        return ids;
    }

    @Test
    void usersTakeTurnsSoAHeavyUserDoesNotStarveALightOne() {
        FairOrder order = new FairOrder();
        for (int i = 0; i < 5000; i++) {
            order.add(item("heavy", 0));
        }
        QueuedItem light = item("light", 0);
        order.add(light);
        assertThat(order.position(light.executionId())).contains(2);
        List<String> ran = drain(order);
        assertThat(ran.indexOf(light.executionId())).isEqualTo(1);
        assertThat(ran).hasSize(5001);
    }

    @Test
    void priorityOrdersWithinAUsersOwnQueueOnly() {
        FairOrder order = new FairOrder();
        QueuedItem a1 = item("a", 0);
        QueuedItem a2 = item("a", 0);
        QueuedItem b1 = item("b", 0);
        QueuedItem urgent = item("a", 10);
        List.of(a1, a2, b1, urgent).forEach(order::add);
        assertThat(drain(order)).containsExactly(urgent.executionId(), b1.executionId(), a1.executionId(),
                a2.executionId());
    }

    @Test
    void positionsMatchTheOrderItemsRunIn() {
        FairOrder order = new FairOrder();
        String[] users = {"a", "b", "c"};
        int[] counts = {7, 2, 4};
        for (int u = 0; u < users.length; u++) {
            for (int i = 0; i < counts[u]; i++) {
                order.add(item(users[u], i % 3 == 0 ? 1 : 0));
            }
        }
        List<FairOrder.Placed> placed = order.ordered(i -> true, 100);
        for (FairOrder.Placed p : placed) {
            assertThat(order.position(p.item().executionId())).contains(p.position());
        }
        assertThat(placed).extracting(FairOrder.Placed::position).containsExactly(
                java.util.stream.IntStream.rangeClosed(1, 13).boxed().toArray(Integer[]::new));
        List<String> ran = drain(order);
        assertThat(ran).containsExactlyElementsOf(placed.stream().map(p -> p.item().executionId()).toList());
    }

    @Test
    void aSkippedUserKeepsItsTurnAndStopEndsTheRound() {
        FairOrder order = new FairOrder();
        QueuedItem a = item("a", 0);
        QueuedItem b = item("b", 0);
        order.add(a);
        order.add(b);
        assertThat(order.next(u -> u.equals("a") ? FairOrder.Turn.SKIP : FairOrder.Turn.TAKE)).isEqualTo(b);
        assertThat(order.next(u -> FairOrder.Turn.STOP)).isNull();
        assertThat(order.position(a.executionId())).contains(1);
        assertThat(order.next(u -> FairOrder.Turn.TAKE)).isEqualTo(a);
        assertThat(order.size()).isZero();
        assertThat(order.bytes()).isZero();
    }

    @Test
    void removeTakesAnItemOutAndItsUserWhenEmpty() {
        FairOrder order = new FairOrder();
        QueuedItem a = item("a", 0);
        QueuedItem b = item("b", 0);
        order.add(a);
        order.add(b);
        assertThat(order.remove(a.executionId())).contains(a);
        assertThat(order.remove(a.executionId())).isEmpty();
        assertThat(order.users()).isEqualTo(1);
        assertThat(order.position(b.executionId())).contains(1);
        assertThat(order.ordered(i -> Set.of("b").contains(i.userId()), 10)).hasSize(1);
        assertThat(order.bytes()).isEqualTo(10);
    }
}
