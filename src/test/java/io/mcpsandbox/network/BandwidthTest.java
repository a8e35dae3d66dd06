package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class BandwidthTest {

    @Test
    void holdsTheRateWhateverTheChunkSizes() throws Exception {
        AtomicLong clock = new AtomicLong();
        Bandwidth bandwidth = new Bandwidth(512 * 1024, clock::get, clock::addAndGet);
        for (int i = 0; i < 64; i++) {
            bandwidth.take(16 * 1024); // 1 MiB in all
        }
        // The burst (a tenth of a second) is free; the rest takes its time at 512 KiB/s.
        assertThat(clock.get() / 1e9).isBetween(1.85, 2.0);
        AtomicLong clock2 = new AtomicLong();
        Bandwidth big = new Bandwidth(512 * 1024, clock2::get, clock2::addAndGet);
        big.take(1 << 20); // one chunk larger than the burst: debt, paid by sleeping
        assertThat(clock2.get() / 1e9).isBetween(1.85, 2.0);
    }

    @Test
    void zeroIsUnlimited() throws Exception {
        AtomicLong clock = new AtomicLong();
        Bandwidth unlimited = new Bandwidth(0, clock::get, clock::addAndGet);
        unlimited.take(1L << 40);
        assertThat(clock.get()).isZero();
    }
}
