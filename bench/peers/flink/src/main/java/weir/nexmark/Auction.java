package weir.nexmark;

import java.util.Objects;

/** A new auction (Nexmark's Auction). A Flink POJO. */
public class Auction {
    public long id;
    public String itemName;
    public String description;
    public long initialBid;
    public long reserve;
    /** Epoch ms; the record's event time. */
    public long dateTime;
    /** Epoch ms. */
    public long expires;
    public long seller;
    public long category;
    public String extra;

    public Auction() {}

    /** The row of auction.csv. */
    public String toCsv() {
        return id + "," + itemName + "," + description + "," + initialBid + "," + reserve + ","
                + dateTime + "," + expires + "," + seller + "," + category + "," + extra;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Auction && toCsv().equals(((Auction) o).toCsv());
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, dateTime);
    }

    @Override
    public String toString() {
        return toCsv();
    }
}
