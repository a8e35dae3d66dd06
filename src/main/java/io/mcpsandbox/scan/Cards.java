package io.mcpsandbox.scan;

/** Payment card checks: the Luhn checksum and a plausible issuer prefix (IIN) for the number's length. */
final class Cards {
    private Cards() {
    }

    /** The digits of s[start, end) (separators skipped) pass Luhn and start with a known issuer prefix. */
    static boolean plausible(CharSequence s, int start, int end) {
        int digits = 0;
        long prefix = 0; // the first 6 digits
        for (int k = start; k < end; k++) {
            char c = s.charAt(k);
            if (c >= '0' && c <= '9') {
                if (digits < 6) {
                    prefix = prefix * 10 + (c - '0');
                }
                digits++;
            }
        }
        return digits >= 13 && digits <= 19 && issuer((int) prefix, digits) && luhn(s, start, end);
    }

    static boolean luhn(CharSequence s, int start, int end) {
        int sum = 0;
        boolean doubleIt = false;
        for (int k = end - 1; k >= start; k--) {
            char c = s.charAt(k);
            if (c < '0' || c > '9') {
                continue;
            }
            int d = c - '0';
            if (doubleIt) {
                d *= 2;
                if (d > 9) {
                    d -= 9;
                }
            }
            sum += d;
            doubleIt = !doubleIt;
        }
        return sum % 10 == 0;
    }

    /** Issuer ranges of the major networks, with the lengths each issues. {@code iin6} is the first six digits. */
    static boolean issuer(int iin6, int length) {
        int d1 = iin6 / 100000;
        int d2 = iin6 / 10000;
        int d3 = iin6 / 1000;
        int d4 = iin6 / 100;
        if (d1 == 4) {
            return length == 13 || length == 16 || length == 19;                         // Visa
        }
        if ((d2 >= 51 && d2 <= 55) || (d4 >= 2221 && d4 <= 2720)) {
            return length == 16;                                                         // Mastercard
        }
        if (d2 == 34 || d2 == 37) {
            return length == 15;                                                         // American Express
        }
        if ((d3 >= 300 && d3 <= 305) || d2 == 36 || d2 == 38 || d2 == 39) {
            return length >= 14 && length <= 19;                                         // Diners Club
        }
        if (d4 == 6011 || (d3 >= 644 && d3 <= 649) || d2 == 65) {
            return length >= 16 && length <= 19;                                         // Discover
        }
        if (d4 >= 3528 && d4 <= 3589) {
            return length >= 16 && length <= 19;                                         // JCB
        }
        if (d2 == 62) {
            return length >= 16 && length <= 19;                                         // UnionPay
        }
        if (d4 == 5018 || d4 == 5020 || d4 == 5038 || d4 == 5893 || d4 == 6304 || d4 == 6759
                || (d4 >= 6761 && d4 <= 6763)) {
            return length >= 13 && length <= 19;                                         // Maestro
        }
        return false;
    }
}
