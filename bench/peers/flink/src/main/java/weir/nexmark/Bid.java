package weir.nexmark;

import java.util.Objects;

/** A bid (Nexmark's Bid, with the channel and url of Flink's nexmark). A Flink POJO. */
public class Bid {
    public long auction;
    public long bidder;
    /** In cents. */
    public long price;
    public String channel;
    public String url;
    /** Epoch ms; the record's event time. */
    public long dateTime;
    public String extra;
    /** The event number, for deterministic tie-breaks (not a Nexmark field). */
    public long eventNumber;

    public Bid() {}

    /** The row of bid.csv. */
    public String toCsv() {
        return auction + "," + bidder + "," + price + "," + channel + "," + url + "," + dateTime
                + "," + extra;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Bid && toCsv().equals(((Bid) o).toCsv());
    }

    @Override
    public int hashCode() {
        return Objects.hash(auction, bidder, price, dateTime);
    }

    @Override
    public String toString() {
        return toCsv();
    }
}
