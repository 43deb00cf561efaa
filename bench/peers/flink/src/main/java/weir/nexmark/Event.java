package weir.nexmark;

/** One Nexmark event: exactly one of person, auction, bid is set, as type says. A Flink POJO. */
public class Event {
    public static final int PERSON = 0;
    public static final int AUCTION = 1;
    public static final int BID = 2;

    public int type;
    /** n: the event's position in the stream. */
    public long eventNumber;
    public Person person;
    public Auction auction;
    public Bid bid;

    public Event() {}

    public long dateTime() {
        return type == PERSON ? person.dateTime : type == AUCTION ? auction.dateTime : bid.dateTime;
    }

    public String typeName() {
        return type == PERSON ? "person" : type == AUCTION ? "auction" : "bid";
    }

    public String toCsv() {
        return type == PERSON ? person.toCsv() : type == AUCTION ? auction.toCsv() : bid.toCsv();
    }

    @Override
    public String toString() {
        return typeName() + "#" + eventNumber + ":" + toCsv();
    }
}
