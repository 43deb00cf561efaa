package weir.nexmark.flink;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.CoGroupFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingProcessingTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import weir.nexmark.Auction;
import weir.nexmark.Bid;
import weir.nexmark.Event;
import weir.nexmark.Person;

/**
 * Nexmark queries on the DataStream API, written from the query definitions of the nexmark/nexmark
 * repository (the SQL Flink's benchmark runs) and Beam's Nexmark. Each returns its result rows as
 * CSV lines (no header); the columns of each query are in {@link #COLUMNS}.
 *
 * <p>q4, q17, q18 and q19 are updating queries (a continuous GROUP BY / ROW_NUMBER in SQL). With
 * finalOnly false they emit a row per update, as the SQL would, for throughput runs; with
 * finalOnly true they emit the result table once, at the end of input (an event-time timer at
 * Long.MAX_VALUE, which the final watermark of a bounded source fires), so results can be
 * compared between engines. Every other query's rows are final when emitted.
 */
public final class Queries {
    private Queries() {}

    public static final String[] NAMES = {"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11",
        "q12", "q14", "q17", "q18", "q19"};

    /** Result columns per query. */
    public static String columns(String q) {
        switch (q) {
            case "q0":
            case "q1":
                return "auction,bidder,price,dateTime,extra";
            case "q2":
                return "auction,price";
            case "q3":
                return "name,city,state,id";
            case "q4":
                return "id,final";
            case "q5":
                return "auction,num";
            case "q7":
                return "auction,bidder,price,dateTime,extra";
            case "q8":
                return "id,name,stime";
            case "q11":
            case "q12":
                return "bidder,bid_count,starttime,endtime";
            case "q14":
                return "auction,bidder,price,bidTimeType,dateTime,extra,c_counts";
            case "q17":
                return "auction,day,total_bids,rank1_bids,rank2_bids,rank3_bids,min_price,"
                        + "max_price,avg_price,sum_price";
            case "q18":
                return "auction,bidder,price,channel,url,dateTime,extra";
            case "q19":
                return "auction,bidder,price,channel,url,dateTime,extra,rank_number";
            default:
                throw new IllegalArgumentException("--query: " + q + ": expected one of "
                        + String.join(", ", NAMES));
        }
    }

    /** The query's result rows. */
    public static DataStream<String> build(String q, DataStream<Event> events, boolean finalOnly) {
        columns(q); // validates the name
        DataStream<Bid> bids = events.filter(e -> e.type == Event.BID).name("bids")
                .map(e -> e.bid).returns(Bid.class).name("bid");
        switch (q) {
            case "q0":
                return bids.map(b -> b.auction + "," + b.bidder + "," + b.price + "," + b.dateTime
                        + "," + b.extra).returns(Types.STRING).name("q0");
            case "q1":
                return bids.map(b -> b.auction + "," + b.bidder + "," + euros(b.price)
                        + "," + b.dateTime + "," + b.extra).returns(Types.STRING).name("q1");
            case "q2":
                return bids.filter(b -> b.auction % 123 == 0).map(b -> b.auction + "," + b.price)
                        .returns(Types.STRING).name("q2");
            case "q3":
                return q3(events);
            case "q4":
                return q4(events, bids, finalOnly);
            case "q5":
                return q5(bids);
            case "q7":
                return q7(bids);
            case "q8":
                return q8(events);
            case "q11":
                return bids.keyBy(b -> b.bidder, Types.LONG)
                        .window(EventTimeSessionWindows.withGap(Duration.ofSeconds(10)))
                        .aggregate(new CountBids(), new BidderWindow()).name("q11");
            case "q12":
                return bids.keyBy(b -> b.bidder, Types.LONG)
                        .window(TumblingProcessingTimeWindows.of(Duration.ofSeconds(10)))
                        .aggregate(new CountBids(), new BidderWindow()).name("q12");
            case "q14":
                return q14(bids);
            case "q17":
                return bids.keyBy(new AuctionDayKey(), Types.TUPLE(Types.LONG, Types.LONG))
                        .process(new AuctionDayStats(finalOnly)).name("q17");
            case "q18":
                return bids.keyBy(new BidderAuction(), Types.TUPLE(Types.LONG, Types.LONG))
                        .process(new LastBid(finalOnly)).name("q18");
            case "q19":
                return bids.keyBy(b -> b.auction, Types.LONG).process(new TopBids(10, finalOnly))
                        .name("q19");
            default:
                throw new IllegalArgumentException("--query: " + q);
        }
    }

    /**
     * 0.908 * price as Flink SQL's DECIMAL(23, 3) prints it: exact, three decimals (price * 908
     * thousandths; prices are positive), so no floating point enters the comparison with weir.
     */
    static String euros(long price) {
        long m = price * 908;
        long frac = m % 1000;
        return m / 1000 + (frac < 10 ? ".00" : frac < 100 ? ".0" : ".") + frac;
    }

    // --- q3: local item suggestion -------------------------------------------------------

    private static DataStream<String> q3(DataStream<Event> events) {
        DataStream<Person> persons = events
                .filter(e -> e.type == Event.PERSON && (e.person.state.equals("OR")
                        || e.person.state.equals("ID") || e.person.state.equals("CA")))
                .map(e -> e.person).returns(Person.class).name("persons-or-id-ca");
        DataStream<Auction> auctions = events
                .filter(e -> e.type == Event.AUCTION && e.auction.category == 10)
                .map(e -> e.auction).returns(Auction.class).name("auctions-category-10");
        return persons.keyBy(p -> p.id, Types.LONG)
                .connect(auctions.keyBy(a -> a.seller, Types.LONG))
                .process(new SellerJoin()).name("q3");
    }

    /** An incremental inner join: a seller's auctions wait in state until the seller arrives. */
    static final class SellerJoin extends KeyedCoProcessFunction<Long, Person, Auction, String> {
        private transient ValueState<Person> person;
        private transient ListState<Auction> waiting;

        @Override
        public void open(OpenContext ctx) {
            person = getRuntimeContext().getState(new ValueStateDescriptor<>("person", Person.class));
            waiting = getRuntimeContext()
                    .getListState(new ListStateDescriptor<>("auctions", Auction.class));
        }

        @Override
        public void processElement1(Person p, Context ctx, Collector<String> out) throws Exception {
            person.update(p);
            for (Auction a : waiting.get()) {
                out.collect(row(p, a));
            }
            waiting.clear();
        }

        @Override
        public void processElement2(Auction a, Context ctx, Collector<String> out)
                throws Exception {
            Person p = person.value();
            if (p != null) {
                out.collect(row(p, a));
            } else {
                waiting.add(a);
            }
        }

        private static String row(Person p, Auction a) {
            return p.name + "," + p.city + "," + p.state + "," + a.id;
        }
    }

    // --- q4: average price per category of closed auctions ----------------------------------

    private static DataStream<String> q4(DataStream<Event> events, DataStream<Bid> bids,
            boolean finalOnly) {
        DataStream<Auction> auctions = events.filter(e -> e.type == Event.AUCTION)
                .map(e -> e.auction).returns(Auction.class).name("auctions");
        DataStream<long[]> winning = auctions.keyBy(a -> a.id, Types.LONG)
                .connect(bids.keyBy(b -> b.auction, Types.LONG))
                .process(new AuctionMax())
                .returns(TypeInformation.of(new TypeHint<long[]>() {})).name("q4-auction-max");
        return winning.keyBy(w -> w[0], Types.LONG).process(new CategoryAverage(finalOnly))
                .name("q4");
    }

    /**
     * Per auction: the highest price of its bids with auction.dateTime <= bid.dateTime <=
     * auction.expires, emitted as {category, max} when the auction closes (the watermark passes
     * expires). Bids that come before their auction wait (by timestamp) until the watermark shows
     * the auction can no longer come.
     */
    static final class AuctionMax extends KeyedCoProcessFunction<Long, Auction, Bid, long[]> {
        private transient ValueState<Auction> auction;
        private transient ValueState<Long> max;
        private transient MapState<Long, Long> early; // bid dateTime -> highest price

        @Override
        public void open(OpenContext ctx) {
            auction = getRuntimeContext()
                    .getState(new ValueStateDescriptor<>("auction", Auction.class));
            max = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Types.LONG));
            early = getRuntimeContext()
                    .getMapState(new MapStateDescriptor<>("early", Types.LONG, Types.LONG));
        }

        @Override
        public void processElement1(Auction a, Context ctx, Collector<long[]> out)
                throws Exception {
            auction.update(a);
            Long m = null;
            for (java.util.Map.Entry<Long, Long> e : early.entries()) {
                if (e.getKey() >= a.dateTime && e.getKey() <= a.expires) {
                    m = m == null ? e.getValue() : Math.max(m, e.getValue());
                }
            }
            early.clear();
            if (m != null) {
                max.update(m);
            }
            ctx.timerService().registerEventTimeTimer(a.expires);
        }

        @Override
        public void processElement2(Bid b, Context ctx, Collector<long[]> out) throws Exception {
            Auction a = auction.value();
            if (a == null) {
                Long m = early.get(b.dateTime);
                early.put(b.dateTime, m == null ? b.price : Math.max(m, b.price));
                ctx.timerService().registerEventTimeTimer(b.dateTime);
                return;
            }
            if (b.dateTime >= a.dateTime && b.dateTime <= a.expires) {
                Long m = max.value();
                max.update(m == null ? b.price : Math.max(m, b.price));
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<long[]> out) throws Exception {
            Auction a = auction.value();
            if (a != null) {
                if (ts >= a.expires) {
                    Long m = max.value();
                    if (m != null) {
                        out.collect(new long[] {a.category, m});
                    }
                    auction.clear();
                    max.clear();
                }
                return;
            }
            // no auction came for bids up to ts: they can never join
            List<Long> gone = new ArrayList<>();
            for (Long t : early.keys()) {
                if (t <= ts) {
                    gone.add(t);
                }
            }
            for (Long t : gone) {
                early.remove(t);
            }
        }
    }

    /** Running AVG(final) per category: integer division, as SQL's AVG of a BIGINT. */
    static final class CategoryAverage extends KeyedProcessFunction<Long, long[], String> {
        private final boolean finalOnly;
        private transient ValueState<long[]> sumCount;

        CategoryAverage(boolean finalOnly) {
            this.finalOnly = finalOnly;
        }

        @Override
        public void open(OpenContext ctx) {
            sumCount = getRuntimeContext().getState(new ValueStateDescriptor<>("sum-count",
                    TypeInformation.of(new TypeHint<long[]>() {})));
        }

        @Override
        public void processElement(long[] w, Context ctx, Collector<String> out) throws Exception {
            long[] sc = sumCount.value();
            if (sc == null) {
                sc = new long[2];
                if (finalOnly) {
                    ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
                }
            }
            sc[0] += w[1];
            sc[1]++;
            sumCount.update(sc);
            if (!finalOnly) {
                out.collect(w[0] + "," + sc[0] / sc[1]);
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<String> out) throws Exception {
            long[] sc = sumCount.value();
            out.collect(ctx.getCurrentKey() + "," + sc[0] / sc[1]);
        }
    }

    // --- q5: hot items ------------------------------------------------------------------------

    /** A count per auction and window. A Flink POJO. */
    public static class AuctionCount {
        public long auction;
        public long count;
        public long start;
        public long end;

        public AuctionCount() {}
    }

    private static DataStream<String> q5(DataStream<Bid> bids) {
        return bids.keyBy(b -> b.auction, Types.LONG)
                .window(SlidingEventTimeWindows.of(Duration.ofSeconds(10), Duration.ofSeconds(2)))
                .aggregate(new CountBids(), new ProcessWindowFunction<Long, AuctionCount, Long,
                        TimeWindow>() {
                    @Override
                    public void process(Long auction, Context ctx, Iterable<Long> counts,
                            Collector<AuctionCount> out) {
                        AuctionCount c = new AuctionCount();
                        c.auction = auction;
                        c.count = counts.iterator().next();
                        c.start = ctx.window().getStart();
                        c.end = ctx.window().getEnd();
                        out.collect(c);
                    }
                }).name("q5-count")
                .keyBy(c -> c.end, Types.LONG).process(new HottestPerWindow()).name("q5");
    }

    /** The auctions with the most bids of a window (all of them on a tie). */
    static final class HottestPerWindow extends KeyedProcessFunction<Long, AuctionCount, String> {
        private transient ValueState<Long> max;
        private transient ListState<AuctionCount> top;

        @Override
        public void open(OpenContext ctx) {
            max = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Types.LONG));
            top = getRuntimeContext()
                    .getListState(new ListStateDescriptor<>("top", AuctionCount.class));
        }

        @Override
        public void processElement(AuctionCount c, Context ctx, Collector<String> out)
                throws Exception {
            Long m = max.value();
            if (m == null || c.count > m) {
                max.update(c.count);
                top.update(List.of(c));
                // window results carry end - 1; all of them are in once the watermark passes it
                ctx.timerService().registerEventTimeTimer(c.end - 1);
            } else if (c.count == m) {
                top.add(c);
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<String> out) throws Exception {
            for (AuctionCount c : top.get()) {
                out.collect(c.auction + "," + c.count);
            }
            max.clear();
            top.clear();
        }
    }

    // --- q7: highest bid ----------------------------------------------------------------------

    /** A bid routed to the tumbling window that starts at window. A Flink POJO. */
    public static class WindowedBid {
        public long window;
        /** The bid lies at the window's end (the next window's start), not in it. */
        public boolean boundary;
        public Bid bid;

        public WindowedBid() {}

        static WindowedBid of(long window, boolean boundary, Bid bid) {
            WindowedBid w = new WindowedBid();
            w.window = window;
            w.boundary = boundary;
            w.bid = bid;
            return w;
        }
    }

    /**
     * The bids whose price is the highest of a 10 s tumbling window, joined as the SQL does: on
     * B.dateTime BETWEEN window_end - 10 s AND window_end, both ends included, so a bid at exactly
     * window_end (the next window's first ms) also matches the window before.
     */
    private static DataStream<String> q7(DataStream<Bid> bids) {
        final long size = 10_000L;
        return bids.flatMap((Bid b, Collector<WindowedBid> out) -> {
            long start = b.dateTime - Math.floorMod(b.dateTime, size);
            out.collect(WindowedBid.of(start, false, b));
            if (b.dateTime == start) {
                out.collect(WindowedBid.of(start - size, true, b));
            }
        }).returns(WindowedBid.class).name("q7-windows")
                .keyBy(w -> w.window, Types.LONG).process(new HighestBid(size)).name("q7");
    }

    /** Per tumbling window (the key is its start): the bids at the window's highest price. */
    static final class HighestBid extends KeyedProcessFunction<Long, WindowedBid, String> {
        private final long sizeMs;
        private transient ValueState<Long> max;
        private transient ListState<Bid> top;
        private transient ListState<Bid> boundary;

        HighestBid(long sizeMs) {
            this.sizeMs = sizeMs;
        }

        @Override
        public void open(OpenContext ctx) {
            max = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Types.LONG));
            top = getRuntimeContext().getListState(new ListStateDescriptor<>("top", Bid.class));
            boundary = getRuntimeContext()
                    .getListState(new ListStateDescriptor<>("boundary", Bid.class));
        }

        @Override
        public void processElement(WindowedBid w, Context ctx, Collector<String> out)
                throws Exception {
            // fires once every bid up to and including the window's end has arrived
            ctx.timerService().registerEventTimeTimer(ctx.getCurrentKey() + sizeMs);
            Bid b = w.bid;
            if (w.boundary) {
                boundary.add(b);
                return;
            }
            Long m = max.value();
            if (m == null || b.price > m) {
                max.update(b.price);
                top.update(List.of(b));
            } else if (b.price == m) {
                top.add(b);
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<String> out) throws Exception {
            Long m = max.value();
            if (m != null) {
                for (Bid b : top.get()) {
                    out.collect(row(b));
                }
                for (Bid b : boundary.get()) {
                    if (b.price == m) {
                        out.collect(row(b));
                    }
                }
            }
            max.clear();
            top.clear();
            boundary.clear();
        }

        private static String row(Bid b) {
            return b.auction + "," + b.bidder + "," + b.price + "," + b.dateTime + "," + b.extra;
        }
    }

    // --- q8: new users ------------------------------------------------------------------------

    private static DataStream<String> q8(DataStream<Event> events) {
        DataStream<Person> persons = events.filter(e -> e.type == Event.PERSON)
                .map(e -> e.person).returns(Person.class).name("persons");
        DataStream<Auction> auctions = events.filter(e -> e.type == Event.AUCTION)
                .map(e -> e.auction).returns(Auction.class).name("auctions");
        return persons.coGroup(auctions).where(p -> p.id, Types.LONG).equalTo(a -> a.seller, Types.LONG)
                .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
                .apply(new CoGroupFunction<Person, Auction, String>() {
                    @Override
                    public void coGroup(Iterable<Person> ps, Iterable<Auction> as,
                            Collector<String> out) {
                        if (!as.iterator().hasNext()) {
                            return;
                        }
                        for (Person p : ps) {
                            long start = p.dateTime - Math.floorMod(p.dateTime, 10_000L);
                            out.collect(p.id + "," + p.name + "," + start);
                        }
                    }
                }).returns(Types.STRING).name("q8");
    }

    // --- q11, q12: counts per bidder and window ---------------------------------------------

    static final class CountBids implements AggregateFunction<Bid, Long, Long> {
        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(Bid b, Long acc) {
            return acc + 1;
        }

        @Override
        public Long getResult(Long acc) {
            return acc;
        }

        @Override
        public Long merge(Long a, Long b) {
            return a + b;
        }
    }

    static final class BidderWindow extends ProcessWindowFunction<Long, String, Long, TimeWindow> {
        @Override
        public void process(Long bidder, Context ctx, Iterable<Long> counts,
                Collector<String> out) {
            out.collect(bidder + "," + counts.iterator().next() + "," + ctx.window().getStart()
                    + "," + ctx.window().getEnd());
        }
    }

    // --- q14: calculation ---------------------------------------------------------------------

    private static DataStream<String> q14(DataStream<Bid> bids) {
        // 0.908 * price > 1,000,000 and < 50,000,000, in exact integers
        return bids.filter(b -> b.price * 908 > 1_000_000_000L && b.price * 908 < 50_000_000_000L)
                .map(b -> {
                    long hour = Math.floorMod(b.dateTime, 86_400_000L) / 3_600_000L;
                    String type = hour >= 8 && hour <= 18 ? "dayTime"
                            : hour <= 6 || hour >= 20 ? "nightTime" : "otherTime";
                    long c = 0;
                    for (int i = 0; i < b.extra.length(); i++) {
                        c += b.extra.charAt(i) == 'c' ? 1 : 0;
                    }
                    return b.auction + "," + b.bidder + "," + euros(b.price) + "," + type
                            + "," + b.dateTime + "," + b.extra + "," + c;
                }).returns(Types.STRING).name("q14");
    }

    // --- q17: auction statistics per day ------------------------------------------------------

    private static final DateTimeFormatter DAY =
            DateTimeFormatter.ofPattern("yyyy-MM-dd").withZone(ZoneOffset.UTC);

    /** (auction, start of the bid's UTC day): DATE_FORMAT(dateTime, 'yyyy-MM-dd'). */
    static final class AuctionDayKey implements KeySelector<Bid, Tuple2<Long, Long>> {
        @Override
        public Tuple2<Long, Long> getKey(Bid b) {
            return Tuple2.of(b.auction, b.dateTime - Math.floorMod(b.dateTime, 86_400_000L));
        }
    }

    /**
     * An unbounded GROUP BY auction, day: {count, rank1, rank2, rank3, min, max, sum} per key,
     * a row per bid (or the final table).
     */
    static final class AuctionDayStats
            extends KeyedProcessFunction<Tuple2<Long, Long>, Bid, String> {
        private final boolean finalOnly;
        private transient ValueState<long[]> stats;

        AuctionDayStats(boolean finalOnly) {
            this.finalOnly = finalOnly;
        }

        @Override
        public void open(OpenContext ctx) {
            stats = getRuntimeContext().getState(new ValueStateDescriptor<>("stats",
                    TypeInformation.of(new TypeHint<long[]>() {})));
        }

        @Override
        public void processElement(Bid b, Context ctx, Collector<String> out) throws Exception {
            long[] a = stats.value();
            if (a == null) {
                a = new long[] {0, 0, 0, 0, Long.MAX_VALUE, Long.MIN_VALUE, 0};
                if (finalOnly) {
                    ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
                }
            }
            a[0]++;
            if (b.price < 10_000) {
                a[1]++;
            } else if (b.price < 1_000_000) {
                a[2]++;
            } else {
                a[3]++;
            }
            a[4] = Math.min(a[4], b.price);
            a[5] = Math.max(a[5], b.price);
            a[6] += b.price;
            stats.update(a);
            if (!finalOnly) {
                out.collect(row(ctx.getCurrentKey(), a));
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<String> out) throws Exception {
            out.collect(row(ctx.getCurrentKey(), stats.value()));
        }

        private static String row(Tuple2<Long, Long> key, long[] a) {
            return key.f0 + "," + DAY.format(Instant.ofEpochMilli(key.f1)) + "," + a[0] + ","
                    + a[1] + "," + a[2] + "," + a[3] + "," + a[4] + "," + a[5] + "," + a[6] / a[0]
                    + "," + a[6];
        }
    }

    // --- q18, q19: dedup and top-N ------------------------------------------------------------

    static final class BidderAuction implements KeySelector<Bid, Tuple2<Long, Long>> {
        @Override
        public Tuple2<Long, Long> getKey(Bid b) {
            return Tuple2.of(b.bidder, b.auction);
        }
    }

    static String bidRow(Bid b) {
        return b.auction + "," + b.bidder + "," + b.price + "," + b.channel + "," + b.url + ","
                + b.dateTime + "," + b.extra;
    }

    /** Later bids come first: (dateTime, eventNumber) decides, so ties do not depend on arrival. */
    static boolean later(Bid a, Bid b) {
        return a.dateTime != b.dateTime ? a.dateTime > b.dateTime : a.eventNumber > b.eventNumber;
    }

    /** The last bid per (bidder, auction): ROW_NUMBER() ORDER BY dateTime DESC, keep rank 1. */
    static final class LastBid extends KeyedProcessFunction<Tuple2<Long, Long>, Bid, String> {
        private final boolean finalOnly;
        private transient ValueState<Bid> last;

        LastBid(boolean finalOnly) {
            this.finalOnly = finalOnly;
        }

        @Override
        public void open(OpenContext ctx) {
            last = getRuntimeContext().getState(new ValueStateDescriptor<>("last", Bid.class));
        }

        @Override
        public void processElement(Bid b, Context ctx, Collector<String> out) throws Exception {
            Bid l = last.value();
            if (l == null && finalOnly) {
                ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
            }
            if (l == null || later(b, l)) {
                last.update(b);
                if (!finalOnly) {
                    out.collect(bidRow(b));
                }
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<String> out) throws Exception {
            out.collect(bidRow(last.value()));
        }
    }

    /** Higher price first; on a tie the earlier bid (lower event number). */
    static boolean ranksAbove(Bid a, Bid b) {
        return a.price != b.price ? a.price > b.price : a.eventNumber < b.eventNumber;
    }

    /** The n highest bids per auction: ROW_NUMBER() ORDER BY price DESC, keep rank <= n. */
    static final class TopBids extends KeyedProcessFunction<Long, Bid, String> {
        private final int n;
        private final boolean finalOnly;
        private transient ListState<Bid> top;

        TopBids(int n, boolean finalOnly) {
            this.n = n;
            this.finalOnly = finalOnly;
        }

        @Override
        public void open(OpenContext ctx) {
            top = getRuntimeContext().getListState(new ListStateDescriptor<>("top", Bid.class));
        }

        @Override
        public void processElement(Bid b, Context ctx, Collector<String> out) throws Exception {
            List<Bid> list = new ArrayList<>();
            for (Bid x : top.get()) {
                list.add(x);
            }
            if (list.isEmpty() && finalOnly) {
                ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
            }
            int rank = 0;
            while (rank < list.size() && ranksAbove(list.get(rank), b)) {
                rank++;
            }
            if (rank >= n) {
                return;
            }
            list.add(rank, b);
            if (list.size() > n) {
                list.remove(n);
            }
            top.update(list);
            if (!finalOnly) {
                out.collect(bidRow(b) + "," + (rank + 1));
            }
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<String> out) throws Exception {
            int rank = 1;
            for (Bid b : top.get()) {
                out.collect(bidRow(b) + "," + rank++);
            }
        }
    }
}
