package weir.nexmark;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Finds the weir side of the comparisons: the weir command (env WEIR, else
 * ROOT/build/tools/weir) and a build's libweir.so (env WEIR_BUILD, else the newest non-sanitizer
 * ROOT/build* holding one), ROOT being the system property weir.root (set by the pom).
 */
public final class WeirTools {
    private WeirTools() {}

    public static Path root() {
        return Paths.get(System.getProperty("weir.root", "../../..")).toAbsolutePath().normalize();
    }

    public static Optional<Path> weirBinary() {
        String env = System.getenv("WEIR");
        if (env != null && Files.isExecutable(Paths.get(env))) {
            return Optional.of(Paths.get(env));
        }
        Path p = root().resolve("build/tools/weir");
        return Files.isExecutable(p) ? Optional.of(p) : Optional.empty();
    }

    public static Optional<Path> libweirDir() {
        String env = System.getenv("WEIR_BUILD");
        if (env != null && Files.exists(Paths.get(env, "libweir.so"))) {
            return Optional.of(Paths.get(env));
        }
        try (Stream<Path> dirs = Files.list(root())) {
            return dirs.filter(d -> d.getFileName().toString().startsWith("build"))
                    .filter(d -> !d.getFileName().toString().contains("san"))
                    .filter(d -> Files.exists(d.resolve("libweir.so")))
                    .max(Comparator.comparingLong(d -> d.resolve("libweir.so").toFile()
                            .lastModified()));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Runs a command; returns its exit status, or -1 when it could not start or ran too long. */
    public static int run(List<String> cmd, Path log, long timeoutS) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * person.csv, auction.csv, bid.csv of weir's generator in dir: from `weir bench nexmark
     * --dump-events` when that exists and no event-time rate is asked for (eventsPerSecond 0),
     * else from tests/nexmark/nexmark_dump.c compiled against a build's libweir_nexmark.a and
     * libweir. Returns how they were made, or empty when neither is available.
     */
    public static Optional<String> dumpEvents(Path dir, long events, long seed,
            long eventsPerSecond, Path work) throws IOException {
        Files.createDirectories(dir);
        Optional<Path> weir = weirBinary();
        if (weir.isPresent() && eventsPerSecond == 0) {
            List<String> cmd = List.of(weir.get().toString(), "bench", "nexmark", "--dump-events",
                    dir.toString(), "--events", Long.toString(events), "--seed",
                    Long.toString(seed));
            if (run(cmd, work.resolve("weir-dump.log"), 300) == 0
                    && Files.exists(dir.resolve("bid.csv"))) {
                return Optional.of(String.join(" ", cmd));
            }
        }
        Optional<Path> lib = libweirDir();
        if (lib.isEmpty()) {
            return Optional.empty();
        }
        Path exe = work.resolve("nexmark_dump");
        if (!Files.isExecutable(exe)) {
            // the generator is bench/nexmark's static library, which links libweir
            List<String> cc = List.of("cc", "-O2", "-I", root().resolve("core/include").toString(),
                    "-I", root().resolve("bench/nexmark/include").toString(),
                    root().resolve("tests/nexmark/nexmark_dump.c").toString(), "-o",
                    exe.toString(), lib.get().resolve("bench/nexmark/libweir_nexmark.a").toString(),
                    "-Wl,--no-as-needed", "-ljemalloc", "-L", lib.get().toString(), "-lweir",
                    "-lm", "-Wl,-rpath," + lib.get());
            if (run(cc, work.resolve("cc.log"), 120) != 0) {
                return Optional.empty();
            }
        }
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "--events",
                Long.toString(events), "--seed", Long.toString(seed)));
        if (eventsPerSecond > 0) {
            cmd.addAll(List.of("--events-per-second", Long.toString(eventsPerSecond)));
        }
        cmd.add(dir.toString());
        if (run(cmd, work.resolve("dump.log"), 300) != 0) {
            return Optional.empty();
        }
        return Optional.of(String.join(" ", cmd));
    }

    /** The lines of a file, or of every file under a directory (sorted by name, numbers as numbers). */
    public static List<List<String>> readParts(Path p) throws IOException {
        List<List<String>> parts = new ArrayList<>();
        if (Files.isDirectory(p)) {
            List<Path> files;
            try (Stream<Path> s = Files.walk(p)) {
                files = s.filter(Files::isRegularFile)
                        .filter(f -> !f.getFileName().toString().startsWith("."))
                        .sorted(Comparator.comparing(f -> naturalKey(f.toFile())))
                        .toList();
            }
            for (Path f : files) {
                parts.add(Files.readAllLines(f));
            }
        } else {
            parts.add(Files.readAllLines(p));
        }
        return parts;
    }

    private static String naturalKey(File f) {
        // part-3-12.csv sorts after part-3-2.csv: pad every number
        StringBuilder sb = new StringBuilder();
        String s = f.getPath();
        int i = 0;
        while (i < s.length()) {
            if (Character.isDigit(s.charAt(i))) {
                int j = i;
                while (j < s.length() && Character.isDigit(s.charAt(j))) {
                    j++;
                }
                sb.append(String.format("%20s", s.substring(i, j)));
                i = j;
            } else {
                sb.append(s.charAt(i++));
            }
        }
        return sb.toString();
    }
}
