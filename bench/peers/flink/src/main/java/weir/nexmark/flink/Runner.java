package weir.nexmark.flink;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import weir.nexmark.Event;
import weir.nexmark.Generator;
import weir.nexmark.NexmarkConfig;

/**
 * Runs one Nexmark query on an in-process Flink (a local MiniCluster) and reports events/s, the
 * peer of `weir bench nexmark`:
 *
 * <pre>
 *   bin/run.sh --query q5 --events 10M --parallelism 2 --state-backend rocksdb \
 *       --checkpoint-interval 10s --json result.json [--output rows.csv]
 * </pre>
 *
 * <p>The flags and defaults follow `weir bench nexmark`: --seed, --event-rate (Nexmark's
 * event-time rate, 10M/s), --rate (a wall-clock limit; default as fast as possible), -p, and
 * -D key=value for Flink configuration keys (the same names weir accepts, e.g.
 * execution.checkpointing.interval). Checkpoints: EXACTLY_ONCE every 10 s by default, to a
 * temporary directory unless --checkpoint-dir; a failure ends the run (no restarts).
 *
 * --warmup-events N first runs the same query on N events in the same JVM, unmeasured.
 *
 * --dump-events DIR writes person.csv, auction.csv and bid.csv of the Java generator instead.
 */
public final class Runner {
    private Runner() {}

    /** The command line, with the defaults of weir bench nexmark. */
    static final class Options {
        String query;
        int parallelism = 1;
        String stateBackend = "hashmap";
        long checkpointIntervalMs = 10_000;
        String checkpointingMode = "EXACTLY_ONCE";
        String checkpointDir;
        Boolean incremental;
        String output;
        String json;
        String dumpEvents;
        /** --warmup-events N: run the same query on N events first, in this JVM, unmeasured. */
        long warmupEvents;
        boolean updates; // updating queries emit every update even with --output
        /** -D key=value: Flink configuration, applied last (Flink's own key names). */
        Map<String, String> flinkConf = new HashMap<>();
        NexmarkConfig nexmark = new NexmarkConfig();
    }

    public static void main(String[] args) throws Exception {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("weir-nexmark-flink: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (o.dumpEvents != null) {
            dumpEvents(o.nexmark, Paths.get(o.dumpEvents));
            return;
        }
        if (o.warmupEvents > 0) {
            // Warm the JIT on the same job graph: same query, backend, parallelism and
            // checkpointing, first N events of the same seed, no output and no JSON; its
            // MiniCluster is shut down before the measured run starts a fresh one.
            long events = o.nexmark.events;
            String output = o.output;
            o.nexmark.events = o.warmupEvents;
            o.output = null;
            Map<String, Object> w = run(o);
            o.nexmark.events = events;
            o.output = output;
            System.err.printf(Locale.ROOT,
                    "weir-nexmark-flink: warm-up: %s on %d events in %.3f s%n", o.query,
                    o.warmupEvents, (Double) w.get("elapsed_s"));
        }
        Map<String, Object> r = run(o);
        r.put("warmup_events", o.warmupEvents);
        System.out.printf(Locale.ROOT, "%s: %d events in %.3f s: %.0f events/s, %d result rows%n",
                o.query, o.nexmark.events, (Double) r.get("elapsed_s"),
                (Double) r.get("events_per_second"), (Long) r.get("result_rows"));
        if (o.json != null) {
            Files.writeString(Paths.get(o.json), toJson(r) + "\n", StandardCharsets.UTF_8);
        }
    }

    static long parseCount(String flag, String v) {
        try {
            double m = 1;
            String s = v.trim();
            char last = s.isEmpty() ? ' ' : Character.toLowerCase(s.charAt(s.length() - 1));
            if (last == 'k' || last == 'm' || last == 'g' || last == 'b') {
                m = last == 'k' ? 1e3 : last == 'm' ? 1e6 : 1e9;
                s = s.substring(0, s.length() - 1);
            }
            double d = Double.parseDouble(s) * m;
            if (d < 0 || Double.isNaN(d)) {
                throw new NumberFormatException();
            }
            return (long) d;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + ": \"" + v
                    + "\": expected a non-negative count like 1000000, 1e6 or 10M");
        }
    }

    /** 10s, 500ms, 1min, or plain milliseconds. */
    static long parseDurationMs(String flag, String v) {
        String s = v.trim().toLowerCase(Locale.ROOT).replace(" ", "");
        try {
            if (s.endsWith("ms")) {
                return Long.parseLong(s.substring(0, s.length() - 2));
            }
            if (s.endsWith("min")) {
                return Long.parseLong(s.substring(0, s.length() - 3)) * 60_000;
            }
            if (s.endsWith("s")) {
                return Long.parseLong(s.substring(0, s.length() - 1)) * 1000;
            }
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    flag + ": \"" + v + "\": expected a duration like 10s, 500ms or 1min");
        }
    }

    static Options parse(String[] args) {
        Options o = new Options();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--updates")) {
                o.updates = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(a + ": expected a value (or unknown flag)");
            }
            String v = args[++i];
            switch (a) {
                case "--query":
                    Queries.columns(v);
                    o.query = v;
                    break;
                case "--events":
                    o.nexmark.events = parseCount(a, v);
                    break;
                case "--parallelism":
                case "-p":
                    o.parallelism = (int) parseCount(a, v);
                    if (o.parallelism < 1) {
                        throw new IllegalArgumentException(a + ": " + v + ": expected >= 1");
                    }
                    break;
                case "--state-backend":
                    if (!v.equals("hashmap") && !v.equals("rocksdb")) {
                        throw new IllegalArgumentException(
                                a + ": " + v + ": expected hashmap or rocksdb");
                    }
                    o.stateBackend = v;
                    break;
                case "--checkpoint-interval":
                    o.checkpointIntervalMs = parseDurationMs(a, v);
                    break;
                case "--checkpointing-mode":
                    String m = v.toUpperCase(Locale.ROOT).replace('-', '_');
                    if (!m.equals("EXACTLY_ONCE") && !m.equals("AT_LEAST_ONCE")) {
                        throw new IllegalArgumentException(
                                a + ": " + v + ": expected EXACTLY_ONCE or AT_LEAST_ONCE");
                    }
                    o.checkpointingMode = m;
                    break;
                case "--checkpoint-dir":
                    o.checkpointDir = v;
                    break;
                case "--incremental":
                    o.incremental = Boolean.parseBoolean(v);
                    break;
                case "--seed":
                    o.nexmark.seed = parseCount(a, v);
                    break;
                case "--event-rate":
                case "--events-per-second":
                    o.nexmark.eventsPerSecond = parseCount(a, v);
                    break;
                case "--rate":
                    o.nexmark.rateLimit = parseCount(a, v);
                    break;
                case "-D":
                    int eq = v.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("-D: \"" + v
                                + "\": expected key=value, e.g. -D state.backend.type=rocksdb");
                    }
                    o.flinkConf.put(v.substring(0, eq).trim(), v.substring(eq + 1).trim());
                    break;
                case "--base-time":
                    o.nexmark.baseTimeMs = Long.parseLong(v);
                    break;
                case "--max-out-of-orderness":
                    o.nexmark.maxOutOfOrdernessMs = parseDurationMs(a, v);
                    break;
                case "--output":
                    o.output = v;
                    break;
                case "--json":
                    o.json = v;
                    break;
                case "--dump-events":
                    o.dumpEvents = v;
                    break;
                case "--warmup-events":
                    o.warmupEvents = parseCount(a, v);
                    break;
                default:
                    throw new IllegalArgumentException(a + ": unknown flag; flags: --query "
                            + "--events --parallelism --state-backend --checkpoint-interval "
                            + "--checkpointing-mode --checkpoint-dir --incremental --seed "
                            + "--event-rate --rate --base-time --max-out-of-orderness --output "
                            + "--json --updates --dump-events --warmup-events -D key=value");
            }
        }
        if (o.query == null && o.dumpEvents == null) {
            throw new IllegalArgumentException("--query: missing; one of "
                    + String.join(", ", Queries.NAMES));
        }
        if (o.dumpEvents != null && o.nexmark.events == 0) {
            throw new IllegalArgumentException("--events: 0 (unbounded) cannot be dumped");
        }
        o.nexmark.check();
        return o;
    }

    static Configuration flinkConfig(Options o) throws IOException {
        Map<String, String> c = new HashMap<>();
        c.put("parallelism.default", Integer.toString(o.parallelism));
        c.put("taskmanager.numberOfTaskSlots", Integer.toString(o.parallelism));
        // pipeline.object-reuse stays off (Flink's default): the queries keep input records in
        // heap state, which a reused record would overwrite.
        c.put("state.backend.type", o.stateBackend);
        // a benchmark run that fails should say so, not restart and skew the numbers
        c.put("restart-strategy.type", "none");
        if (o.checkpointIntervalMs > 0) {
            c.put("execution.checkpointing.interval", o.checkpointIntervalMs + " ms");
            c.put("execution.checkpointing.mode", o.checkpointingMode);
            String dir = o.checkpointDir != null ? o.checkpointDir
                    : Files.createTempDirectory("weir-flink-chk").toString();
            c.put("execution.checkpointing.storage", "filesystem");
            c.put("execution.checkpointing.dir", Paths.get(dir).toUri().toString());
            boolean inc = o.incremental != null ? o.incremental : o.stateBackend.equals("rocksdb");
            c.put("execution.checkpointing.incremental", Boolean.toString(inc));
        }
        c.putAll(o.flinkConf);
        return Configuration.fromMap(c);
    }

    static Map<String, Object> run(Options o) throws Exception {
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.createLocalEnvironment(o.parallelism, flinkConfig(o));
        NexmarkConfig nc = o.nexmark;
        DataStream<Event> events = env.fromSource(new NexmarkSource(nc),
                WatermarkStrategy.<Event>forBoundedOutOfOrderness(
                        Duration.ofMillis(nc.maxOutOfOrdernessMs)),
                "nexmark");
        boolean finalOnly = o.output != null && !o.updates;
        DataStream<String> rows = Queries.build(o.query, events, finalOnly);
        rows.sinkTo(new LineSink(o.output, o.parallelism)).name("sink");
        LineSink.ROWS.reset();
        long t0 = System.nanoTime();
        JobExecutionResult res = env.execute("nexmark-" + o.query);
        double wall = (System.nanoTime() - t0) * 1e-9;
        double elapsed = res.getNetRuntime() / 1000.0;
        Map<String, Object> r = new java.util.LinkedHashMap<>();
        r.put("engine", "flink");
        r.put("flink_version", EnvironmentInformation.getVersion());
        r.put("java_version", System.getProperty("java.version"));
        r.put("query", o.query);
        r.put("events", nc.events);
        r.put("parallelism", (long) o.parallelism);
        r.put("state_backend", o.stateBackend);
        r.put("checkpointing_mode", o.checkpointingMode);
        r.put("checkpoint_interval_ms", o.checkpointIntervalMs);
        r.put("seed", nc.seed);
        r.put("events_per_second_event_time", nc.eventsPerSecond);
        r.put("base_time_ms", nc.baseTimeMs);
        r.put("elapsed_s", elapsed);
        r.put("wall_s", wall);
        r.put("events_per_second", elapsed > 0 ? nc.events / elapsed : 0.0);
        r.put("result_rows", LineSink.ROWS.sum());
        r.put("final_only", finalOnly);
        r.put("output", o.output);
        return r;
    }

    static String toJson(Map<String, Object> m) {
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<String, Object> e : m.entrySet()) {
            if (sb.length() > 1) {
                sb.append(", ");
            }
            sb.append('"').append(e.getKey()).append("\": ");
            Object v = e.getValue();
            if (v == null) {
                sb.append("null");
            } else if (v instanceof String) {
                sb.append('"').append(((String) v).replace("\\", "\\\\").replace("\"", "\\\""))
                        .append('"');
            } else if (v instanceof Double) {
                sb.append(String.format(Locale.ROOT, "%.6f", (Double) v));
            } else {
                sb.append(v);
            }
        }
        return sb.append('}').toString();
    }

    /** person.csv, auction.csv, bid.csv with Nexmark's field names, events 0..N-1 in order. */
    static void dumpEvents(NexmarkConfig nc, Path dir) throws IOException {
        Files.createDirectories(dir);
        Generator g = new Generator(nc);
        try (BufferedWriter p = Files.newBufferedWriter(dir.resolve("person.csv"));
                BufferedWriter a = Files.newBufferedWriter(dir.resolve("auction.csv"));
                BufferedWriter b = Files.newBufferedWriter(dir.resolve("bid.csv"))) {
            p.write("id,name,emailAddress,creditCard,city,state,dateTime,extra\n");
            a.write("id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,"
                    + "extra\n");
            b.write("auction,bidder,price,channel,url,dateTime,extra\n");
            for (long n = 0; n < nc.events; n++) {
                Event e = g.eventAt(n);
                BufferedWriter w = e.type == Event.PERSON ? p : e.type == Event.AUCTION ? a : b;
                w.write(e.toCsv());
                w.write('\n');
            }
        }
    }
}
