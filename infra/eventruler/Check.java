// Check runs event patterns and events through event-ruler, the matcher
// EventBridge uses (software.amazon.event.ruler:event-ruler), for the infra
// tests (infra/eventruler_test.go). It is a single-file program:
//
//   java -cp '.eventruler/lib/*' infra/eventruler/Check.java cases.json
//
// cases.json: {"patterns": {"<rule id>": "<pattern JSON>", ...},
//              "events":   {"<event name>": "<event JSON>", ...}}
// It prints, as JSON, each pattern's size in characters and event-ruler's
// verdict on it (null when valid), and for each event the ids of the
// patterns that match it: {"patterns": {"<id>": {"size": n, "error": e}},
// "matches": {"<event name>": ["<id>", ...]}}. The test decides what is
// wrong; this program exits non-zero only when it cannot run.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import software.amazon.event.ruler.JsonRuleCompiler;
import software.amazon.event.ruler.Machine;

@SuppressWarnings("deprecation") // rulesForJSONEvent: the one that reads a JSON event as EventBridge does
public class Check {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Check cases.json");
            System.exit(2);
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode cases = json.readTree(new File(args[0]));
        ObjectNode out = json.createObjectNode();
        ObjectNode verdicts = out.putObject("patterns");
        Machine machine = new Machine();
        for (Iterator<Map.Entry<String, JsonNode>> it = cases.path("patterns").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> p = it.next();
            String pattern = p.getValue().asText();
            ObjectNode v = verdicts.putObject(p.getKey());
            v.put("size", pattern.length());
            String error = JsonRuleCompiler.check(pattern);
            if (error == null) {
                try {
                    machine.addRule(p.getKey(), pattern);
                } catch (Exception e) {
                    error = "addRule: " + e.getMessage();
                }
            }
            if (error == null) {
                v.putNull("error");
            } else {
                v.put("error", error);
            }
        }
        ObjectNode matches = out.putObject("matches");
        for (Iterator<Map.Entry<String, JsonNode>> it = cases.path("events").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            List<String> ids = new ArrayList<>(machine.rulesForJSONEvent(e.getValue().asText()));
            Collections.sort(ids);
            var list = matches.putArray(e.getKey());
            ids.forEach(list::add);
        }
        System.out.println(json.writeValueAsString(out));
    }
}
