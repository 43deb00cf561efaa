package weir.nexmark;

import java.io.Serializable;

/**
 * The generator's options: struct weir_nexmark_opts of bench/nexmark/include/nexmark.h, with the
 * same defaults (weir_nexmark_opts_init).
 */
public class NexmarkConfig implements Serializable {
    private static final long serialVersionUID = 1L;

    /** 2024-01-01T00:00:00Z. */
    public static final long DEFAULT_BASE_TIME_MS = 1704067200000L;

    /** 0 = unbounded. */
    public long events = 0;
    /** 0 = Beam's events (Random(eventId)). */
    public long seed = 0;
    /** Event-time rate: sets the inter-event delay. */
    public double eventsPerSecond = 10_000_000.0;
    public long baseTimeMs = DEFAULT_BASE_TIME_MS;
    public int personProportion = 1;
    public int auctionProportion = 3;
    public int bidProportion = 46;
    public int hotAuctionRatio = 2;
    public int hotBiddersRatio = 4;
    public int hotSellersRatio = 4;
    public int numInFlightAuctions = 100;
    public int numActivePeople = 1000;
    public int avgPersonBytes = 200;
    public int avgAuctionBytes = 500;
    public int avgBidBytes = 100;
    /** Watermark lag behind the largest timestamp seen. */
    public long maxOutOfOrdernessMs = 0;
    /** Wall-clock events per second over all subtasks; 0 = as fast as possible. */
    public double rateLimit = 0;

    public int totalProportion() {
        return personProportion + auctionProportion + bidProportion;
    }

    /** Throws IllegalArgumentException naming the field and value, as weir_nexmark_opts_check. */
    public void check() {
        if (!(eventsPerSecond > 0) || Double.isInfinite(eventsPerSecond)) {
            throw new IllegalArgumentException(
                    "nexmark events_per_second: " + eventsPerSecond + ": expected a positive rate");
        }
        if (rateLimit < 0) {
            throw new IllegalArgumentException("nexmark rate_limit: " + rateLimit
                    + ": expected 0 (as fast as possible) or a positive rate");
        }
        if (maxOutOfOrdernessMs < 0) {
            throw new IllegalArgumentException(
                    "nexmark max_out_of_orderness_ms: " + maxOutOfOrdernessMs + ": expected >= 0");
        }
        if (personProportion <= 0 || auctionProportion <= 0 || bidProportion <= 0
                || hotAuctionRatio <= 0 || hotBiddersRatio <= 0 || hotSellersRatio <= 0
                || numInFlightAuctions <= 0 || numActivePeople <= 0) {
            throw new IllegalArgumentException("nexmark proportions and ratios: expected > 0");
        }
    }
}
