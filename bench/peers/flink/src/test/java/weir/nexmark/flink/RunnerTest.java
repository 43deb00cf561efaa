package weir.nexmark.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The command line: weir bench nexmark's flags and defaults, one-line errors naming the flag. */
class RunnerTest {
    @Test
    void flagsSetTheRunAndFlinkConfiguration() throws Exception {
        Runner.Options o = Runner.parse(new String[] {"--query", "q5", "--events", "10M", "-p",
            "2", "--state-backend", "rocksdb", "--checkpoint-interval", "5s", "--event-rate", "1e4",
            "--rate", "1000", "--seed", "3", "-D", "pipeline.auto-watermark-interval=50 ms"});
        assertEquals("q5", o.query);
        assertEquals(10_000_000L, o.nexmark.events);
        assertEquals(2, o.parallelism);
        assertEquals(10_000.0, o.nexmark.eventsPerSecond);
        assertEquals(1000.0, o.nexmark.rateLimit);
        assertEquals(3, o.nexmark.seed);
        var conf = Runner.flinkConfig(o).toMap();
        assertEquals("rocksdb", conf.get("state.backend.type"));
        assertEquals("5000 ms", conf.get("execution.checkpointing.interval"));
        assertEquals("EXACTLY_ONCE", conf.get("execution.checkpointing.mode"));
        assertEquals("true", conf.get("execution.checkpointing.incremental"));
        assertEquals("50 ms", conf.get("pipeline.auto-watermark-interval"));
    }

    @Test
    void defaultsMatchWeirBenchNexmark() {
        Runner.Options o = Runner.parse(new String[] {"--query", "q0"});
        assertEquals(10_000, o.checkpointIntervalMs);
        assertEquals("EXACTLY_ONCE", o.checkpointingMode);
        assertEquals("hashmap", o.stateBackend);
        assertEquals(10_000_000.0, o.nexmark.eventsPerSecond);
        assertEquals(0.0, o.nexmark.rateLimit);
        assertEquals(0, o.warmupEvents);
        assertEquals(50_000, Runner.parse(new String[] {"--query", "q0", "--warmup-events", "50K"})
                .warmupEvents);
    }

    @Test
    void badValuesNameTheFlag() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Runner.parse(new String[] {"--query", "q6"})).getMessage()
                .startsWith("--query: q6: expected one of"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Runner.parse(new String[] {"--query", "q1", "--events", "lots"}))
                .getMessage().startsWith("--events: \"lots\""));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Runner.parse(new String[] {"--query", "q1", "--state-backend", "heap"}))
                .getMessage().startsWith("--state-backend: heap"));
    }
}
