package weir.nexmark;

import java.io.Serializable;
import java.util.Random;

/**
 * The Nexmark generator as a function of (config, event number), the Java twin of
 * core/src/nexmark.c: the same java.util.Random per event (seeded seed * 0x9E3779B97F4A7C15 + n;
 * with seed 0 that is Beam's new Random(eventId)) and the same calls in the same order, so both
 * make the same events byte for byte. The order of draws follows Beam's and Flink nexmark's
 * PersonGenerator, AuctionGenerator and BidGenerator; bid channel URLs, which Flink's nexmark
 * draws from an unseeded Random, come from Random(channel) here, as in the C generator.
 */
public final class Generator implements Serializable {
    private static final long serialVersionUID = 1L;

    public static final long FIRST_PERSON_ID = 1000;
    public static final long FIRST_AUCTION_ID = 1000;
    public static final long FIRST_CATEGORY_ID = 10;
    public static final int NUM_CATEGORIES = 5;

    private static final int HOT_AUCTION_RATIO = 100;
    private static final int HOT_SELLER_RATIO = 100;
    private static final int HOT_BIDDER_RATIO = 100;
    private static final int PERSON_ID_LEAD = 10;
    private static final int AUCTION_ID_LEAD = 10;
    private static final int HOT_CHANNELS_RATIO = 2;
    private static final int CHANNELS_NUMBER = 10_000;
    private static final long SEED_MULTIPLIER = 0x9E3779B97F4A7C15L;

    private static final String[] US_STATES = {"AZ", "CA", "ID", "OR", "WA", "WY"};
    private static final String[] US_CITIES = {"Phoenix", "Los Angeles", "San Francisco", "Boise",
        "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"};
    private static final String[] FIRST_NAMES = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky",
        "Kate", "Julie", "Sarah", "Deiter", "Walter"};
    private static final String[] LAST_NAMES = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
        "Walton", "Smith", "Jones", "Noris"};
    private static final String[] HOT_CHANNELS = {"Google", "Facebook", "Baidu", "Apple"};

    /** Channels 0..9999 then the hot ones: names and URLs. */
    private static final String[] CHANNEL_NAMES = new String[CHANNELS_NUMBER + 4];
    private static final String[] CHANNEL_URLS = new String[CHANNELS_NUMBER + 4];

    static {
        for (int i = 0; i < CHANNELS_NUMBER + HOT_CHANNELS.length; i++) {
            Random r = new Random(i);
            String url = "https://www.nexmark.com/" + nextString(r, 5, '_') + '/'
                    + nextString(r, 5, '_') + '/' + nextString(r, 5, '_') + '/'
                    + "item.htm?query=1";
            if (i < CHANNELS_NUMBER) {
                if (r.nextInt(10) > 0) {
                    url = url + "&channel_id=" + Math.abs(Integer.reverse(i));
                }
                CHANNEL_NAMES[i] = "channel-" + i;
            } else {
                CHANNEL_NAMES[i] = HOT_CHANNELS[i - CHANNELS_NUMBER];
            }
            CHANNEL_URLS[i] = url;
        }
    }

    private final NexmarkConfig c;
    private final long total;
    private final double delayUs;

    public Generator(NexmarkConfig config) {
        config.check();
        this.c = config;
        this.total = config.totalProportion();
        this.delayUs = 1000000.0 / config.eventsPerSecond;
    }

    public NexmarkConfig config() {
        return c;
    }

    /** dateTime of event n: baseTime + (long)(n * interEventDelayUs) / 1000, as nexmark's. */
    public long timeAt(long n) {
        return c.baseTimeMs + (long) (n * delayUs) / 1000L;
    }

    public int typeAt(long n) {
        long rem = n % total;
        if (rem < c.personProportion) {
            return Event.PERSON;
        }
        if (rem < c.personProportion + c.auctionProportion) {
            return Event.AUCTION;
        }
        return Event.BID;
    }

    public Event eventAt(long n) {
        long ts = timeAt(n);
        Random r = new Random(c.seed * SEED_MULTIPLIER + n);
        Event e = new Event();
        e.eventNumber = n;
        e.type = typeAt(n);
        switch (e.type) {
            case Event.PERSON:
                e.person = person(n, r, ts);
                break;
            case Event.AUCTION:
                e.auction = auction(n, r, ts);
                break;
            default:
                e.bid = bid(n, r, ts);
                break;
        }
        return e;
    }

    private Person person(long id, Random r, long ts) {
        Person p = new Person();
        p.id = lastBase0PersonId(id) + FIRST_PERSON_ID;
        p.name = FIRST_NAMES[r.nextInt(FIRST_NAMES.length)] + " "
                + LAST_NAMES[r.nextInt(LAST_NAMES.length)];
        p.emailAddress = nextString(r, 7, ' ') + "@" + nextString(r, 5, ' ') + ".com";
        StringBuilder cc = new StringBuilder(19);
        for (int i = 0; i < 4; i++) {
            if (i > 0) {
                cc.append(' ');
            }
            String d = Integer.toString(r.nextInt(10000));
            for (int k = d.length(); k < 4; k++) {
                cc.append('0');
            }
            cc.append(d);
        }
        p.creditCard = cc.toString();
        p.city = US_CITIES[r.nextInt(US_CITIES.length)];
        p.state = US_STATES[r.nextInt(US_STATES.length)];
        p.dateTime = ts;
        int size = 8 + p.name.length() + p.emailAddress.length() + p.creditCard.length()
                + p.city.length() + p.state.length();
        p.extra = nextExtra(r, size, c.avgPersonBytes);
        return p;
    }

    private Auction auction(long id, Random r, long ts) {
        Auction a = new Auction();
        a.id = lastBase0AuctionId(id) + FIRST_AUCTION_ID;
        long seller;
        if (r.nextInt(c.hotSellersRatio) > 0) {
            seller = (lastBase0PersonId(id) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO;
        } else {
            seller = nextBase0PersonId(id, r);
        }
        a.seller = seller + FIRST_PERSON_ID;
        a.category = FIRST_CATEGORY_ID + r.nextInt(NUM_CATEGORIES);
        a.initialBid = nextPrice(r);
        a.expires = ts + nextAuctionLengthMs(id, r, ts);
        a.itemName = nextString(r, 20, ' ');
        a.description = nextString(r, 100, ' ');
        a.reserve = a.initialBid + nextPrice(r);
        a.dateTime = ts;
        int size = 8 + a.itemName.length() + a.description.length() + 8 + 8 + 8 + 8 + 8;
        a.extra = nextExtra(r, size, c.avgAuctionBytes);
        return a;
    }

    private Bid bid(long id, Random r, long ts) {
        Bid b = new Bid();
        long auction;
        if (r.nextInt(c.hotAuctionRatio) > 0) {
            auction = (lastBase0AuctionId(id) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO;
        } else {
            auction = nextBase0AuctionId(id, r);
        }
        b.auction = auction + FIRST_AUCTION_ID;
        long bidder;
        if (r.nextInt(c.hotBiddersRatio) > 0) {
            bidder = (lastBase0PersonId(id) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1;
        } else {
            bidder = nextBase0PersonId(id, r);
        }
        b.bidder = bidder + FIRST_PERSON_ID;
        b.price = nextPrice(r);
        int ch;
        if (r.nextInt(HOT_CHANNELS_RATIO) > 0) {
            ch = CHANNELS_NUMBER + r.nextInt(HOT_CHANNELS.length);
        } else {
            ch = r.nextInt(CHANNELS_NUMBER);
        }
        b.channel = CHANNEL_NAMES[ch];
        b.url = CHANNEL_URLS[ch];
        b.dateTime = ts;
        b.eventNumber = id;
        b.extra = nextExtra(r, 8 + 8 + 8 + 8, c.avgBidBytes);
        return b;
    }

    long lastBase0PersonId(long id) {
        long epoch = id / total;
        long offset = id % total;
        if (offset >= c.personProportion) {
            offset = c.personProportion - 1;
        }
        return epoch * c.personProportion + offset;
    }

    long lastBase0AuctionId(long id) {
        long epoch = id / total;
        long offset = id % total;
        if (offset < c.personProportion) {
            epoch--;
            offset = c.auctionProportion - 1;
        } else if (offset >= c.personProportion + c.auctionProportion) {
            offset = c.auctionProportion - 1;
        } else {
            offset -= c.personProportion;
        }
        return epoch * c.auctionProportion + offset;
    }

    private long nextBase0PersonId(long id, Random r) {
        long numPeople = lastBase0PersonId(id) + 1;
        long active = Math.min(numPeople, c.numActivePeople);
        long n = nextLong(r, active + PERSON_ID_LEAD);
        return numPeople - active + n;
    }

    private long nextBase0AuctionId(long id, Random r) {
        long maxAuction = lastBase0AuctionId(id);
        long minAuction = Math.max(maxAuction - c.numInFlightAuctions, 0);
        return minAuction + nextLong(r, maxAuction - minAuction + 1 + AUCTION_ID_LEAD);
    }

    private long nextAuctionLengthMs(long n, Random r, long ts) {
        long ahead = ((long) c.numInFlightAuctions * total) / c.auctionProportion;
        long horizonMs = timeAt(n + ahead) - ts;
        return 1L + nextLong(r, Math.max(horizonMs * 2, 1L));
    }

    static long nextLong(Random r, long n) {
        if (n < Integer.MAX_VALUE) {
            return r.nextInt((int) n);
        }
        return Math.abs(r.nextLong() % n);
    }

    static long nextPrice(Random r) {
        return Math.round(Math.pow(10.0, r.nextDouble() * 6.0) * 100.0);
    }

    static String nextString(Random r, int maxLength, char special) {
        int len = 3 + r.nextInt(maxLength - 3);
        StringBuilder sb = new StringBuilder(len);
        while (len-- > 0) {
            if (r.nextInt(13) == 0) {
                sb.append(special);
            } else {
                sb.append((char) ('a' + r.nextInt(26)));
            }
        }
        return sb.toString().trim();
    }

    static String nextExtra(Random r, int currentSize, int desiredAverageSize) {
        if (currentSize > desiredAverageSize) {
            return "";
        }
        desiredAverageSize -= currentSize;
        int delta = (int) Math.round(desiredAverageSize * 0.2);
        int minSize = desiredAverageSize - delta;
        int desiredSize = minSize + (delta == 0 ? 0 : r.nextInt(2 * delta));
        StringBuilder sb = new StringBuilder(desiredSize);
        int rnd = 0;
        int left = 0;
        while (desiredSize-- > 0) {
            if (left == 0) {
                rnd = r.nextInt();
                left = 6;
            }
            sb.append((char) ('a' + rnd % 26));
            rnd /= 26;
            left--;
        }
        return sb.toString();
    }
}
