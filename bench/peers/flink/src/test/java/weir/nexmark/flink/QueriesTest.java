package weir.nexmark.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import weir.nexmark.Auction;
import weir.nexmark.Bid;
import weir.nexmark.Event;
import weir.nexmark.Generator;
import weir.nexmark.NexmarkConfig;
import weir.nexmark.Person;
import weir.nexmark.WeirTools;

/**
 * Each Flink query against a plain-Java evaluation of its definition over the same events (the
 * final result table; order ignored). All queries run in one Flink job at parallelism 2, on
 * 200,000 events at 10,000 events/s of event time, so windows, sessions and auction expiries
 * happen many times.
 */
class QueriesTest {
    static final long EVENTS = 200_000;
    static final String[] QUERIES = {"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11", "q14",
        "q17", "q18", "q19"};

    @TempDir
    static Path tmp;

    static NexmarkConfig config;
    static List<Event> events = new ArrayList<>();

    @BeforeAll
    static void runAllQueries() throws Exception {
        config = new NexmarkConfig();
        config.events = EVENTS;
        config.eventsPerSecond = 10_000;
        config.seed = 11;
        Generator g = new Generator(config);
        for (long n = 0; n < EVENTS; n++) {
            events.add(g.eventAt(n));
        }
        Runner.Options o = new Runner.Options();
        o.parallelism = 2;
        o.checkpointIntervalMs = 1000;
        o.checkpointDir = tmp.resolve("chk").toString();
        o.nexmark = config;
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.createLocalEnvironment(2, Runner.flinkConfig(o));
        DataStream<Event> src = env.fromSource(new NexmarkSource(config),
                WatermarkStrategy.<Event>forBoundedOutOfOrderness(Duration.ZERO), "nexmark");
        for (String q : QUERIES) {
            Queries.build(q, src, true).sinkTo(new LineSink(tmp.resolve(q).toString(), 2))
                    .name(q + "-sink");
        }
        env.execute("all-queries");
    }

    static List<String> flink(String q) throws Exception {
        List<String> rows = new ArrayList<>();
        for (List<String> part : WeirTools.readParts(tmp.resolve(q))) {
            rows.addAll(part);
        }
        Collections.sort(rows);
        return rows;
    }

    static void check(String q, List<String> want) throws Exception {
        Collections.sort(want);
        List<String> got = flink(q);
        assertTrue(!want.isEmpty(), q + ": the reference has no rows; the test would be vacuous");
        assertEquals(want.size(), got.size(), q + " rows");
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.get(i), got.get(i), q + " row " + i + " (sorted)");
        }
    }

    static List<Bid> bids() {
        List<Bid> b = new ArrayList<>();
        for (Event e : events) {
            if (e.type == Event.BID) {
                b.add(e.bid);
            }
        }
        return b;
    }

    static String euros(long p) {
        return String.format("%d.%03d", p * 908 / 1000, p * 908 % 1000);
    }

    @Test
    void q0PassesBidsThrough() throws Exception {
        List<String> want = new ArrayList<>();
        for (Bid b : bids()) {
            want.add(b.auction + "," + b.bidder + "," + b.price + "," + b.dateTime + "," + b.extra);
        }
        check("q0", want);
    }

    @Test
    void q1ConvertsPricesToEuros() throws Exception {
        List<String> want = new ArrayList<>();
        for (Bid b : bids()) {
            want.add(b.auction + "," + b.bidder + "," + euros(b.price) + "," + b.dateTime + ","
                    + b.extra);
        }
        check("q1", want);
    }

    @Test
    void q2SelectsAuctionsDivisibleBy123() throws Exception {
        List<String> want = new ArrayList<>();
        for (Bid b : bids()) {
            if (b.auction % 123 == 0) {
                want.add(b.auction + "," + b.price);
            }
        }
        check("q2", want);
    }

    @Test
    void q3JoinsSellersInOrIdCaWithCategory10() throws Exception {
        Map<Long, Person> persons = new HashMap<>();
        for (Event e : events) {
            if (e.type == Event.PERSON) {
                persons.put(e.person.id, e.person);
            }
        }
        List<String> want = new ArrayList<>();
        for (Event e : events) {
            if (e.type != Event.AUCTION || e.auction.category != 10) {
                continue;
            }
            Person p = persons.get(e.auction.seller);
            if (p != null && Set.of("OR", "ID", "CA").contains(p.state)) {
                want.add(p.name + "," + p.city + "," + p.state + "," + e.auction.id);
            }
        }
        check("q3", want);
    }

    @Test
    void q4AveragesWinningPricesPerCategory() throws Exception {
        Map<Long, Auction> auctions = new HashMap<>();
        for (Event e : events) {
            if (e.type == Event.AUCTION) {
                auctions.put(e.auction.id, e.auction);
            }
        }
        Map<Long, Long> max = new HashMap<>();
        for (Bid b : bids()) {
            Auction a = auctions.get(b.auction);
            if (a != null && b.dateTime >= a.dateTime && b.dateTime <= a.expires) {
                max.merge(a.id, b.price, Math::max);
            }
        }
        Map<Long, long[]> cat = new TreeMap<>();
        for (Map.Entry<Long, Long> m : max.entrySet()) {
            long[] sc = cat.computeIfAbsent(auctions.get(m.getKey()).category, k -> new long[2]);
            sc[0] += m.getValue();
            sc[1]++;
        }
        List<String> want = new ArrayList<>();
        cat.forEach((c, sc) -> want.add(c + "," + sc[0] / sc[1]));
        check("q4", want);
    }

    @Test
    void q5FindsTheHottestAuctionsPerSlidingWindow() throws Exception {
        Map<Long, Map<Long, Long>> counts = new HashMap<>(); // window start -> auction -> n
        for (Bid b : bids()) {
            long last = b.dateTime - Math.floorMod(b.dateTime, 2000L);
            for (long s = last; s > b.dateTime - 10_000; s -= 2000) {
                counts.computeIfAbsent(s, k -> new HashMap<>()).merge(b.auction, 1L, Long::sum);
            }
        }
        List<String> want = new ArrayList<>();
        for (Map<Long, Long> w : counts.values()) {
            long m = Collections.max(w.values());
            w.forEach((a, n) -> {
                if (n == m) {
                    want.add(a + "," + n);
                }
            });
        }
        check("q5", want);
    }

    @Test
    void q7FindsTheHighestBidsPerWindow() throws Exception {
        Map<Long, Long> max = new HashMap<>();
        for (Bid b : bids()) {
            max.merge(b.dateTime - Math.floorMod(b.dateTime, 10_000L), b.price, Math::max);
        }
        List<String> want = new ArrayList<>();
        for (Bid b : bids()) {
            long start = b.dateTime - Math.floorMod(b.dateTime, 10_000L);
            // BETWEEN window_end - 10 s AND window_end: this window, or the end of the one before
            boolean matches = b.price == max.get(start)
                    || (b.dateTime == start && max.containsKey(start - 10_000)
                            && b.price == max.get(start - 10_000));
            if (matches) {
                want.add(b.auction + "," + b.bidder + "," + b.price + "," + b.dateTime + ","
                        + b.extra);
            }
        }
        check("q7", want);
    }

    @Test
    void q8FindsPeopleWhoOpenedAnAuctionInTheirWindow() throws Exception {
        Set<String> sellerWindows = new HashSet<>();
        for (Event e : events) {
            if (e.type == Event.AUCTION) {
                sellerWindows.add(e.auction.seller + "@"
                        + (e.auction.dateTime - Math.floorMod(e.auction.dateTime, 10_000L)));
            }
        }
        List<String> want = new ArrayList<>();
        for (Event e : events) {
            if (e.type == Event.PERSON) {
                long start = e.person.dateTime - Math.floorMod(e.person.dateTime, 10_000L);
                if (sellerWindows.contains(e.person.id + "@" + start)) {
                    want.add(e.person.id + "," + e.person.name + "," + start);
                }
            }
        }
        check("q8", want);
    }

    @Test
    void q11CountsBidsPerSession() throws Exception {
        Map<Long, List<Long>> times = new TreeMap<>();
        for (Bid b : bids()) {
            times.computeIfAbsent(b.bidder, k -> new ArrayList<>()).add(b.dateTime);
        }
        List<String> want = new ArrayList<>();
        times.forEach((bidder, ts) -> {
            Collections.sort(ts);
            long first = ts.get(0);
            long last = first;
            long n = 0;
            for (long t : ts) {
                if (t >= last + 10_000) {
                    want.add(bidder + "," + n + "," + first + "," + (last + 10_000));
                    first = t;
                    n = 0;
                }
                last = t;
                n++;
            }
            want.add(bidder + "," + n + "," + first + "," + (last + 10_000));
        });
        check("q11", want);
    }

    @Test
    void q14FiltersAndComputes() throws Exception {
        List<String> want = new ArrayList<>();
        for (Bid b : bids()) {
            if (b.price * 908 <= 1_000_000_000L || b.price * 908 >= 50_000_000_000L) {
                continue;
            }
            int hour = Instant.ofEpochMilli(b.dateTime).atZone(ZoneOffset.UTC).getHour();
            String type = hour >= 8 && hour <= 18 ? "dayTime"
                    : hour <= 6 || hour >= 20 ? "nightTime" : "otherTime";
            long c = b.extra.chars().filter(ch -> ch == 'c').count();
            want.add(b.auction + "," + b.bidder + "," + euros(b.price) + "," + type + ","
                    + b.dateTime + "," + b.extra + "," + c);
        }
        check("q14", want);
    }

    @Test
    void q17ReportsAuctionStatisticsPerDay() throws Exception {
        DateTimeFormatter day = DateTimeFormatter.ofPattern("yyyy-MM-dd").withZone(ZoneOffset.UTC);
        Map<String, long[]> stats = new TreeMap<>();
        for (Bid b : bids()) {
            long[] a = stats.computeIfAbsent(b.auction + "," + day.format(
                    Instant.ofEpochMilli(b.dateTime)), k -> new long[] {0, 0, 0, 0,
                        Long.MAX_VALUE, Long.MIN_VALUE, 0});
            a[0]++;
            a[b.price < 10_000 ? 1 : b.price < 1_000_000 ? 2 : 3]++;
            a[4] = Math.min(a[4], b.price);
            a[5] = Math.max(a[5], b.price);
            a[6] += b.price;
        }
        List<String> want = new ArrayList<>();
        stats.forEach((k, a) -> want.add(k + "," + a[0] + "," + a[1] + "," + a[2] + "," + a[3]
                + "," + a[4] + "," + a[5] + "," + a[6] / a[0] + "," + a[6]));
        check("q17", want);
    }

    @Test
    void q18KeepsTheLastBidPerBidderAndAuction() throws Exception {
        Map<String, Bid> last = new HashMap<>();
        for (Bid b : bids()) {
            last.merge(b.bidder + "/" + b.auction, b, (x, y) -> Queries.later(y, x) ? y : x);
        }
        List<String> want = new ArrayList<>();
        for (Bid b : last.values()) {
            want.add(Queries.bidRow(b));
        }
        check("q18", want);
    }

    @Test
    void q19KeepsTheTenHighestBidsPerAuction() throws Exception {
        Map<Long, List<Bid>> per = new HashMap<>();
        for (Bid b : bids()) {
            per.computeIfAbsent(b.auction, k -> new ArrayList<>()).add(b);
        }
        List<String> want = new ArrayList<>();
        for (List<Bid> l : per.values()) {
            l.sort((x, y) -> x.price != y.price ? Long.compare(y.price, x.price)
                    : Long.compare(x.eventNumber, y.eventNumber));
            for (int i = 0; i < Math.min(10, l.size()); i++) {
                want.add(Queries.bidRow(l.get(i)) + "," + (i + 1));
            }
        }
        check("q19", want);
    }
}
