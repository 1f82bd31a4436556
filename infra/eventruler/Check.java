// Check validates event patterns with event-ruler, the matcher EventBridge
// uses (software.amazon.event.ruler:event-ruler), and runs events through
// them. The infra tests run it (infra/eventruler_test.go); it is a
// single-file program:
//
//   java -cp '.eventruler/lib/*' infra/eventruler/Check.java cases.json
//
// cases.json:
//   {"maxSize": 2048,
//    "patterns": {"<rule id>": "<pattern JSON>", ...},
//    "events":   {"<name>": {"event": "<event JSON>", "want": true|false}, ...}}
//
// It fails (exit 1, a line per failure on stderr) when event-ruler rejects a
// pattern, when a pattern is longer than maxSize characters, when an event
// with want true is matched by no pattern, when one with want false is
// matched, or when an event is matched by more than one pattern (the
// function would receive it twice). On stdout it prints each pattern's size
// and each event's matching patterns as JSON.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import software.amazon.event.ruler.JsonRuleCompiler;
import software.amazon.event.ruler.Machine;

@SuppressWarnings("deprecation") // Machine.rulesForJSONEvent: reads a JSON event as EventBridge does
public class Check {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Check cases.json");
            System.exit(2);
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode cases = json.readTree(new File(args[0]));
        int maxSize = cases.path("maxSize").asInt(2048);
        List<String> failures = new ArrayList<>();
        ObjectNode out = json.createObjectNode();
        ObjectNode sizes = out.putObject("sizes");
        Machine machine = new Machine();
        for (Iterator<Map.Entry<String, JsonNode>> it = cases.path("patterns").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> p = it.next();
            String id = p.getKey(), pattern = p.getValue().asText();
            sizes.put(id, pattern.length());
            if (pattern.length() > maxSize) {
                failures.add("rule " + id + ": pattern is " + pattern.length() + " characters, more than EventBridge's " + maxSize);
            }
            String error = JsonRuleCompiler.check(pattern);
            if (error != null) {
                failures.add("rule " + id + ": event-ruler rejects the pattern: " + error);
                continue;
            }
            machine.addRule(id, pattern);
        }
        ObjectNode matches = out.putObject("matches");
        for (Iterator<Map.Entry<String, JsonNode>> it = cases.path("events").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            boolean want = e.getValue().path("want").asBoolean();
            List<String> ids = new ArrayList<>(machine.rulesForJSONEvent(e.getValue().path("event").asText()));
            Collections.sort(ids);
            ArrayNode list = matches.putArray(name);
            ids.forEach(list::add);
            if (want && ids.isEmpty()) {
                failures.add("event " + name + ": the playbook acts on it, and no rule matches it");
            } else if (!want && !ids.isEmpty()) {
                failures.add("event " + name + ": the playbook does not act on it, and rules " + ids + " match it");
            } else if (ids.size() > 1) {
                failures.add("event " + name + ": rules " + ids + " all match it: the function would receive it " + ids.size() + " times");
            }
        }
        System.out.println(json.writeValueAsString(out));
        if (!failures.isEmpty()) {
            Collections.sort(failures);
            failures.forEach(System.err::println);
            System.err.println(failures.size() + " failures");
            System.exit(1);
        }
    }
}
