package weir.nexmark.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import weir.nexmark.WeirTools;

/**
 * Flink's results equal weir's, order aside, for the same events: `weir bench nexmark --query qN
 * --events N -p 2 --output DIR` against this peer with the same options (seed 0, Nexmark's
 * default event-time rate and base time). weir's part files start with a header row (dropped
 * here); q4 is an updating table, so weir's last row per key is compared with the final table
 * that this peer writes. Skipped, saying why, when there is no weir command or it has no `bench
 * nexmark`. N is 1,000,000 unless -Dnexmark.equality.events says otherwise.
 */
class WeirEqualityTest {
    static final long EVENTS = Long.getLong("nexmark.equality.events", 1_000_000L);
    static Path work;

    @BeforeAll
    static void workDir() throws IOException {
        work = Files.createTempDirectory("weir-flink-equality");
    }

    @ParameterizedTest
    @ValueSource(strings = {"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"})
    void flinkResultsEqualWeirs(String q) throws Exception {
        Optional<Path> weir = WeirTools.weirBinary();
        assumeTrue(weir.isPresent(), "skipped: no weir command at " + WeirTools.root()
                + "/build/tools/weir (run `make build` at the root, or set WEIR)");
        Path help = work.resolve("help.log");
        assumeTrue(WeirTools.run(List.of(weir.get().toString(), "bench", "nexmark", "--help"),
                help, 30) == 0, "skipped: " + weir.get() + " has no `bench nexmark`: "
                + Files.readString(help).strip());

        Path weirOut = work.resolve("weir-" + q);
        Path log = work.resolve("weir-" + q + ".log");
        List<String> cmd = List.of(weir.get().toString(), "bench", "nexmark", "--query", q,
                "--events", Long.toString(EVENTS), "-p", "2", "--output", weirOut.toString(),
                "--json", work.resolve("weir-" + q + ".json").toString());
        int rc = WeirTools.run(cmd, log, 600);
        assertEquals(0, rc, String.join(" ", cmd) + " failed: " + tail(log));

        Runner.Options o = new Runner.Options();
        o.query = q;
        o.parallelism = 2;
        o.nexmark.events = EVENTS;
        o.output = work.resolve("flink-" + q).toString();
        o.checkpointDir = work.resolve("flink-chk-" + q).toString();
        Runner.run(o);

        List<String> want = weirRows(q, weirOut);
        List<String> got = new ArrayList<>();
        for (List<String> part : WeirTools.readParts(work.resolve("flink-" + q))) {
            got.addAll(part);
        }
        Collections.sort(want);
        Collections.sort(got);
        assertTrue(!want.isEmpty() || q.equals("q2"), q + ": weir wrote no rows to " + weirOut);
        assertEquals(want.size(), got.size(), q + ": rows of weir (" + weirOut + ") and Flink");
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.get(i), got.get(i), q + ": row " + i + " of the sorted results");
        }
    }

    /** weir's rows without header rows; for an updating query the last row per key. */
    static List<String> weirRows(String q, Path out) throws IOException {
        String header = Queries.columns(q);
        boolean updating = q.equals("q4"); // keyed by its first column, id (the category)
        Map<String, String> last = new LinkedHashMap<>();
        List<String> rows = new ArrayList<>();
        for (List<String> part : WeirTools.readParts(out)) {
            for (String line : part) {
                if (line.equals(header)) {
                    continue;
                }
                if (updating) {
                    last.put(line.substring(0, line.indexOf(',')), line);
                } else {
                    rows.add(line);
                }
            }
        }
        return updating ? new ArrayList<>(last.values()) : rows;
    }

    static String tail(Path log) throws IOException {
        List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    }
}
