package io.mcpsandbox.scan;

/** Shannon entropy of a symbol histogram. */
final class Entropy {
    private static final double LN2 = Math.log(2);

    /** c * log2(c) for the counts a token of at most 256 characters can have. */
    private static final double[] C_LOG2_C = new double[257];

    static {
        for (int c = 1; c < C_LOG2_C.length; c++) {
            C_LOG2_C[c] = c * Math.log(c) / LN2;
        }
    }

    private Entropy() {
    }

    /** Like {@link #shannon(int[], int)} for total <= 256, with table look-ups instead of logarithms. */
    static double shannonSmall(int[] counts, int total) {
        if (total <= 0 || total >= C_LOG2_C.length) {
            return shannon(counts, total);
        }
        // H = log2(n) - (1/n) * sum(c * log2(c))
        double sum = 0;
        for (int c : counts) {
            sum += C_LOG2_C[c];
        }
        return C_LOG2_C[total] / total - sum / total;
    }

    /** Bits per symbol of a text of {@code total} symbols with the given per-symbol counts. */
    static double shannon(int[] counts, int total) {
        if (total <= 0) {
            return 0;
        }
        double h = 0;
        for (int c : counts) {
            if (c > 0) {
                double p = (double) c / total;
                h -= p * Math.log(p);
            }
        }
        return h / LN2;
    }

    /** Bits per character of a whole string (any characters). */
    static double shannon(CharSequence text) {
        java.util.Map<Character, Integer> counts = new java.util.HashMap<>();
        for (int i = 0; i < text.length(); i++) {
            counts.merge(text.charAt(i), 1, Integer::sum);
        }
        return shannon(counts.values().stream().mapToInt(Integer::intValue).toArray(), text.length());
    }
}
