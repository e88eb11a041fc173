"""Read what the user is doing and wants: the phase, the objective, and the constraints (lossless, no retraining).

Each cue counts only where its clause asserts it: "not training" and "we could fine-tune a draft if needed" say
nothing about the phase, and "I don't care about latency" is not a latency objective.
"""

from __future__ import annotations

import re
from typing import Any

from agent.reading.findings import Found
from agent.reading.scope import Scope, sentence_start
from agent.reading.targets import ONE_STREAM, RATE, figure_ms

# Phase cues in priority order: a specific activity beats the generic words of serving.
PHASE_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("fine-tuning", re.compile(r"fine[\s-]?tun(?:e|es|ing)\b|finetun(?:e|es|ing)\b|\blora\b|\bqlora\b|\bsft\b|\brlhf\b|"
                               r"\bdpo\b|\bgrpo\b|instruction[\s-]tun\w*|\bpeft\b|continued training|post[\s-]train(?:ing)? (?:run|job)", re.I)),
    ("pre-training", re.compile(r"pre[\s-]?train(?:ing)?\b|from scratch|train(?:ing)? (?:from scratch|a \d|an? (?:\d|llm|model|moe))|"
                                r"\btraining (?:run|step|job|throughput|on|across|with|in|at|from|runs out|cluster|mfu)\b|"
                                r"\bwe (?:still )?train\b|\b(?:data|tensor|pipeline)[\s-]parallel\w* (?:pre-?)?training|"
                                r"\btraining an?\b|\bstep time\b|\bmfu\b", re.I)),
    ("edge", re.compile(r"\bedge\b|on[\s-]device|laptop|phone|mobile|jetson|\borin\b|macbook|mac studio|mac mini|"
                        r"\bm[1-4] (?:pro|max|ultra)\b|raspberry|consumer (?:gpu|card)|\bdesktop\b|\bat home\b|"
                        r"\bembedded\b|\bin[\s-]car\b|\brobot\w*|\bios\b|\bandroid\b|\biphone\b|\binside an? (?:app|application)\b|"
                        # the model runs on each user's own hardware: "generated on the player's machine"
                        r"\bon (?:the |each |every )?(?:player|user|customer|client|end[\s-]user)s?'?s?'? (?:own )?"
                        r"(?:machines?|devices?|pcs?|computers?|hardware|gpus?)\b", re.I)),
    ("offline-batch", re.compile(r"offline|batch (?:\w+ )?(?:inference|jobs?|processing|generation|workloads?|evals?|"
                                 r"evaluations?)|bulk|whole (?:dataset|corpus)|"
                                 r"overnight|nightly|embarrassingly|evaluat\w* (?:on|over) (?:a|the|our)|synthetic data|"
                                 r"(?:label|classify|summari[sz]e|embed|process|annotate)\w* (?:\d[\d,.]*\s?[mk]?|millions|"
                                 r"thousands|all) (?:of )?(?:documents|docs|records|rows|files|pages|samples|examples)|"
                                 r"\bdataset of\b|(?:whole|entire|full) (?:dataset|corpus|benchmark|catalog|archive|backlog|"
                                 r"collection)|"
                                 # a count of items to process ("50M query-doc pairs", "12M strings"); "2k prompts" is a
                                 # prompt length unless written in millions
                                 r"~?\d+(?:\.\d+)?\s?(?:[kK]\s+(?:[\w-]+\s+){0,2}?|[mM]\s+(?:[\w-]+\s+){0,2}?(?:prompts|"
                                 r"responses|queries|questions|conversations)?)(?:documents|docs|pairs|strings|rows|samples|"
                                 r"items|records|reviews|tickets|files|examples|articles|transcripts|images|emails|"
                                 r"problems)\b|\d+(?:\.\d+)?\s?[mM]\s+(?:prompts|responses|queries|questions|conversations)\b|"
                                 r"\b\d{1,3}(?:,\d{3})+(?![\s-]*tok)\s+(?:[\w-]+\s+){0,3}?(?:problems|questions|prompts|documents|"
                                 r"samples|examples|items|records|test cases)\b|eval(?:uation)? "
                                 r"sweeps?|weekend job|around the clock|(?:nobody|no (?:one|user)) (?:is )?(?:wait(?:s|ing)|watch(?:es|ing)?)\b|annotation (?:study|job)|"
                                 r"\b\d+(?:\.\d+)?\s?(?:million|billion)\s+(?:[\w-]+\s+){0,2}?(?:descriptions|documents|docs|"
                                 r"pages|records|rows|items|reviews|tickets|files|articles|transcripts|emails|products|listings|"
                                 r"summaries|captions|posts|comments|messages|pairs|samples|examples)\b|"
                                 r"generat\w* (?:synthetic|training|teacher)|\brun(?:ning)? (?:my |our |an? |the )?(?:\w+ )?eval\w*\b|"
                                 # data made for training and jobs with a deadline, not users: "generates reasoning
                                 # traces for our training data", "14 eval suites ... done by monday"
                                 r"\bgenerat\w* [^.;?!]{0,40}?\bfor (?:our |the |a |its )?(?:training|fine[\s-]?tuning|sft) "
                                 r"(?:data|set|corpus|mix)\b|\beval(?:uation)? (?:suites?|sets?|harness)\b|"
                                 r"\b(?:done|finished|ready|complete) by (?:monday|tuesday|wednesday|thursday|friday|saturday|"
                                 r"sunday|tomorrow|the weekend|morning|tonight)\b", re.I)),
    ("serving", re.compile(r"serv(?:e|es|ing|er)\b|deploy|\bhost(?:s|ing)?\b|users|chat|\bqps\b|requests?|production|endpoint|\bapi\b|inference|"
                           r"decode|generat|latency|ttft|tpot|prompts?\b", re.I)),
    # a bare "train"/"training" counts only when nothing says serving
    ("pre-training", re.compile(r"\btrain\b|\btraining\b|\bgradients?\b|optimi[sz]er states?", re.I)),
]
# An ability or option, not the activity: "we can fine-tune if needed", "we could train a draft".
_OPTION_BEFORE = re.compile(r"\b(?:could|might|would|maybe|perhaps|done|finished|no more|willing to|open to|happy to|"
                            r"able to|(?:we|i|and) can|allowed to|forbid\w*|prohibit\w*|may not|nobody|no one|free to|"
                            r"budget|another team'?s|other team'?s|(?:any|a) change that needs|"
                            # someone else's run on the same machines: "the rest run a training job"
                            r"the rest|the others|the other (?:half|\w+s))\b", re.I)
_OPTION_AFTER = re.compile(r"\b(?:if (?:needed|necessary|required|it helps|it gets|it pays|that|training|the)|later|eventually|"
                           r"done|finished|out of scope|goes through|review|"
                           r"in the future|some ?day|next (?:week|month|quarter|year|sprint)|sitting idle|"
                           r"(?:is|are) an option|on the table|(?:is|are) (?:absolutely |totally |"
                           r"perfectly )?(?:fine|ok|okay|acceptable|possible|allowed))\b", re.I)
# the work of a served model: its latency metrics, its users and its request rate
_SERVING_WORK = re.compile(r"\b(?:ttft|tpot|itl|inter[\s-]token|time[\s-]to[\s-]first[\s-]token|first token|per[\s-]user|"
                           r"(?:concurrent|simultaneous) (?:users|requests|sessions|streams)|users at once|req(?:uest)?s?/s|"
                           r"requests per (?:second|minute)|\bqps\b|\brps\b|serving engine|endpoint|chatbot|"
                           r"(?:tokens?|\d+k?) in\b[^.;]{0,24}?\d+k? (?:tokens? )?out)\b", re.I)
# the work of a training run: its steps, epochs, optimizer, batch layout and utilisation
_TRAINING_WORK = re.compile(r"\b(?:epochs?|step time|per step|steps?/s|mfu|samples?/s|samples per|optimi[sz]er|gradients?|"
                            r"micro[\s-]?batch|global[\s-]batch|seq(?:uence)?[\s_-]?len(?:gth)?|seq \d|learning rate|loss|"
                            r"checkpointing|zero[\s-]?[123]?|fsdp|deepspeed|megatron|trainer|torchrun|ds_config|gpu[\s-]hours|"
                            r"(?:training|fine[\s-]?tun\w*|lora|sft|the|our|my) (?:run|job)|examples|full (?:fine[\s-]?tune|ft)|"
                            r"(?:is it possible|can (?:i|we)|how (?:do|can) (?:i|we)) (?:to )?(?:fine[\s-]?tune|train|pre-?train))\b",
                            re.I)
# "a fine-tuned model", "our LoRA adapters in production": the words describe the model being served
_DESCRIBES_MODEL = re.compile(r"\b(?:serv\w*|deploy\w*|inference|host\w*|production|prod)\b|"
                              r"\b(?:a|an|our|their|its|own|the|\d+)\s+(?:[\w.-]+\s+)?fine[\s-]?tunes\b|"
                              r"\b(?:a|an)\s+(?:[\w.-]+\s+)?fine[\s-]?tune\b(?!\s+(?:of|on|with|for)\b)|"
                              r"(?:sft|fine[\s-]?tuned?|lora|tuned)[\s-]+(?:checkpoint|model|weights|version|variant|adapter)",
                              re.I)

OBJECTIVE_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("ttft", re.compile(r"\bttft\b|time[\s-]to[\s-]first[\s-]token|first[\s-]token|prefill (?:latency|time)|"
                        r"prompt processing|until the first (?:word|token|chunk|character)|first (?:word|chunk) (?:appears|shows)|"
                        # "once it starts talking" is the time after the first token, not the wait for it
                        r"(?<!once it )(?<!once they )(?<!after it )(?:start|begin)s? (?:to )?(?:reply|replying|respond|"
                        r"responding|answer|answering|stream|streaming|talking|typing|showing|appearing|speaking|speak)|first (?:sentence|words?|chunk)\b|(?:initial|first) response time|"
                        r"first (?:~|about |few )?\d* ?tokens\b|"
                        # what a front end tracks: "time to first paint of the answer", "first byte"
                        r"time to first (?:\w+ )?(?:paint|byte|render|display|pixel)|first (?:paint|render)\b",
                        re.I)),
    ("tpot", re.compile(r"\btpot\b|\bitl\b|inter[\s-]token|per[\s-]token latency|time per (?:output )?token|"
                        r"decode (?:latency|speed)|tok(?:en)?s?/s(?:ec)? per (?:user|request|stream)|ms per token|"
                        r"(?:faster|speed up|slow|accelerat\w*) decod\w*|decod\w* (?:is )?(?:slow|faster)|per[\s-]token (?:latency|speed|time)|"
                        r"tokens per second per (?:user|request)|generation speed|streaming speed|ms/tok(?:en)?|"
                        r"tokens? per second (?:for|to) (?:a|one|each) user|speed of (?:each|every|one|a single) user|"
                        r"per[\s-]user speed|speed\w* (?:for|of|in) decod\w*|\btypes? (?:out )?(?:too |so |much |way )?slow\w*|"
                        r"tok(?:en)?s?/s(?:ec)?/(?:user|stream|request)|latency per token|stutter\w*|jerk\w*|"
                        r"(?:pauses?|gaps?) between tokens|tokens? (?:come|arrive) in bursts|per[\s-]stream (?:speed|rate)", re.I)),
    # cost stated per unit of work beats the word "tokens" in it ("maximise tokens per dollar")
    ("cost", re.compile(r"per (?:dollar|\$)|\$\s*(?:/|per)|cost per|"
                        # "anything cheap?", "a cheap fix": little effort, not a lower bill
                        r"(?<!anything )(?<!something )(?:cheaper\b(?!\s+(?:fix|win|trick|change|tweak|hack)\b)|"
                        r"(?<!a )cheap(?!\s+(?:fix|win|trick|change|tweak|hack)\b))|"
                        r"\bsmaller (?:cards|gpus|instances|machines)\b|"
                        r"\b(?:stand up|dedicate|spin up)\s+(?:a |one |an )?[\w.-]+\s+(?:\([^)]*\)\s+)?per (?:customer|tenant|team)\b|"
                        r"\ba few requests (?:an|per|a) (?:hour|day)\b|"
                        # the bill they pay, not billing their own customers ("we bill per token")
                        r"(?<!we )(?<!they )(?<!i )\bbill\b(?!\s+(?:per|customers|clients|users)\b)|save money|saving money|"
                        r"smaller instance|cheaper (?:gpu|instance|card)|spend|"
                        r"fewer (?:gpus|cards|nodes|machines|instances|servers|boxes)|smallest number of|"
                        r"\b(?:single|one) node instead|instead of (?:two|three|four|\d+) (?:nodes|gpus|cards)|"
                        r"\b(?:on|onto|to|down to) (?:just |only )?(?:two|three|one|a single|\d+)\b[^.?!,]{0,25}?\binstead\b|"
                        r"\boff (?:of )?(?:\d+|two|four|eight)\b[^.?!]{0,30}\bonto\b|\bsave (?:a lot|money|\$)|"
                        r"\b(?:get|go|move|bring)\s+(?:it\s+)?(?:down\s+)?to\s+(?:1|one|a single|fewer|\d+)\s+"
                        r"(?:cards?|gpus?|nodes?|machines?)\b|idle (?:cost|gpus?)|"
                        r"\bfewest (?:\w+ )?(?:gpus|cards|nodes|machines|instances|[a-z]{1,3}\d{2,3}\w*s)\b|"
                        r"\bminimum (?:number of )?(?:gpus|cards|nodes|machines|instances)\b|\binvoice\w*|"
                        # hardware paid for but not needed: "paying for a dozen GPUs that do nothing", "occupies 8 L40S
                        # full-time", "run it on 2 of those 4 cards and hand the other two to research"
                        r"\bpay\w* for (?:\w+ ){0,3}?(?:gpus|cards|nodes|instances|hardware)\b|"
                        r"\b(?:gpus|cards|nodes|instances) (?:that|which) (?:do nothing|sit idle|are idle)|"
                        r"\boccup(?:y|ies|ying) (?:\w+ ){0,3}?full[\s-]?time\b|"
                        r"\bon (?:just |only )?(?:\d+|one|two|three|four|a single) (?:of|out of) (?:those|these|the|our|its) "
                        r"(?:\d+|two|three|four|eight)\b|\bhand (?:back |over )?(?:the other|the rest|\d+|two|some)\b|"
                        r"\bfree up (?:\w+ ){0,2}?(?:gpus|cards|nodes)\b", re.I)),
    ("memory", re.compile(r"\bfits?\b(?!\s+more\b|\s+in(?:to)?\s+(?:under\s+)?~?\d+(?:\.\d+)?\s?(?:s|sec|seconds|ms|min\w*)\b)"
                          r"(?!\s+(?:in(?:to)?\s+)?(?:the |our |a )?(?:[\w-]+\s+){0,2}?(?:window|deadline|schedule|"
                          r"time|slot|sla|day|night|week|weekend|shift|hour))|out of memory|"
                          r"\bcan (?:we|i|it|one \w+|a single \w+) (?:even )?(?:run|deploy|host|serve|load|hold)\b|"
                          r"\b(?:is|are) (?:that|it|this|they) enough\b|\b(?:is it|would it be|is that|will it be) (?:even )?"
                          r"(?:possible|feasible|doable)\b(?!(?:[^.?!]|\.\d){0,60}\b\d+(?:\.\d+)?\s?(?:s|sec|seconds|ms|min\w*)\b)|enough (?:memory|vram)|\boom\w*|\bvram\b|\bkv[\s-]?cache (?:size|grows)|too big|"
                          r"doesn'?t fit|won'?t fit|memory (?:usage|footprint|budget|limit|pressure)|(?<![-_])\bmemory\b(?![-_])|"
                          # only getting it to run at all: "get mixtral to even load", "it just has to run"
                          r"\beven (?:load|fit|run|boot|start)\b|\b(?:just |only )?(?:has|needs) to (?:load|run|fit)\b(?! (?:in|under|faster|within))|"
                          r"\bsqueez\w* (?:it |this |them |the model )?(?:onto|into|on)\b|\bneed (?:[\w.-]+ ){0,3}?to (?:load|fit) on\b|"
                          r"\bwithout crash\w*",
                          re.I)),
    ("throughput", re.compile(r"throughput|thr?o?u?ghput|projected (?:at|to)|\b\d+\s*(?:days|weeks)\b|"
                              r"\b(?:hours?|h|days?) per (?:epoch|run|step)\b|(?:cut|reduce|shorten|save) the (?:hours|days)\b|"
                              r"push (?:\w+ ){0,4}through|tokens?/s(?:ec)?\b|tok/s\b|tokens per second|more requests|"
                              r"maximi[sz]e (?:the )?(?:\w+ ){0,3}?tokens\b(?!\s*(?:per|/)\s*(?:dollar|\$|€|euro))|"
                              r"samples per second|\bmfu\b|step time|faster training|train faster|speed up training|"
                              r"finish (?:faster|sooner)|as fast as possible|how (?:long|fast) .{0,20}(?:take|finish)|"
                              r"wall[\s-]?clock|total (?:time|hours)|requests per second|\brps\b|tokens per (?:hour|day)|"
                              r"shorten (?:the )?(?:run|job|training)|finish by|\b[a-z]+s per (?:day|hour|week|night)\b|"
                              r"\bpush\w* more tokens\b|\bmore tokens (?:through|out of|from|per) (?:each|every|the|a|one)\b|"
                              r"\bmore (?:concurrent |simultaneous |parallel )?(?:users|chats|streams|sessions|tenants|requests|"
                              r"conversations|clients)\b|(?:users|streams|sessions|tenants|requests|chats) per (?:gpu|node|card|"
                              r"box|server|replica|h\d+\w*)\b|keep up\b|\bdrain\b|req(?:uest)?s?/s(?:ec)?\b|samples/s|"
                              r"(?:queue|backlog) (?:keeps )?(?:grow|build)\w*", re.I)),
    ("cost", re.compile(r"\bcost|(?<!anything )(?<!something )(?<!a )cheap(?!\s+(?:fix|win|trick|change|tweak|hack)\b)|\$|(?<!\d s )(?<!\ds )(?<!\d ms )(?<!\dms )(?<!that )budget|dollar|fewer gpus|price", re.I)),
    ("quality", re.compile(r"accuracy|quality|perplexity|preserv\w* (?:quality|accuracy)|(?:answers|outputs|results|"
                           r"scores?)\b[^.;!?]{0,60}?\b(?:are|got|get|is|became)\W+(?:much |a lot |noticeably )?(?:worse|different|dropped)|"
                           r"eval\w* (?:score )?dropped", re.I)),
    ("latency", re.compile(r"latency|fast(?:er)? (?:responses?|answers?)|respon\w+ time|snappy|interactive|real[\s-]?time|"
                           r"end[\s-]to[\s-]end|\be2e\b|per[\s-]request (?:time|latency)|total (?:latency|time per request)|"
                           r"times? out\b|timeout|fully (?:posted|appear\w*|generated|written)|\bfroze\b|"
                           r"takes? (?:about |around |~)?\d+(?:\.\d+)? ?(?:s|sec|seconds)\b|"
                           r"\d+(?:\.\d+)?\s?(?:s|sec|seconds|ms) per (?:report|request|answer|response|summary|query|call|"
                           r"document|page|item|reply|completion)\b|\bfit in (?:under )?~?\d+(?:\.\d+)?\s?(?:s|sec|seconds|ms)\b|"
                           r"\d+\s?(?:ms|s) or (?:less|under)\b", re.I)),
    # everyday words for the same metrics: what the user sees and what the business counts, ranked after the terms
    # of art above when both are present
    ("ttft", re.compile(r"before (?:anything|any text|the (?:reply|answer|response|text|output)|a (?:single )?word)\b"
                        r"(?:\s+\w+){0,3}?\s+(?:shows?|appears?|starts?|comes?)\b|"
                        r"(?:reply|answer|response|text|output) (?:starts|begins) (?:appearing|showing|to appear|to show)|"
                        r"first (?:characters?|bytes?|output|line|letters?)\b|\bsits? (?:there )?blank|blank (?:screen|box|bubble)|"
                        r"before the first\b|\b(?:dead|initial) (?:air|pause|silence)\b|\bsilence after\b|"
                        r"\b(?:looks?|seems?|is|sits?) frozen for\b", re.I)),
    ("tpot", re.compile(r"stream\w* (?:is |looks |feels |seems )?(?:\w+ )?(?:sluggish|slow|choppy|laggy)|"
                        r"tokens? (?:come|appear|arrive|trickle|show up)\w* (?:out )?(?:too |so |very )?slow\w*|"
                        r"\b(?:sec(?:ond)?s?|s) per token|tok(?:en)?s?/s(?:ec)? (?:per|for each|for every|each) "
                        r"(?:user|person|chat|stream|session|conversation)|\b(?:each|every|per) (?:user|person) (?:sees?|gets?)\b|"
                        r"responses? stop coming|decode (?:feels|is|looks|seems) (?:\w+ )?slow|while streaming|streaming rate|"
                        r"(?:faster|quicker|more fast|speed\w*|slow\w*)\b[^.?!]{0,24}\b(?:for|to) (?:each|every) (?:person|user|one)\b|"
                        r"tokens? (?:come|comes|coming) out (?:\w+ )?faster|stream\w* as fast as|"
                        r"(?:thinking|reasoning|generation) (?:go|run|goes|runs) faster|fast\w* (?:can |does )?(?:the )?decod\w*|"
                        # the pace of the text once it flows: "come out at reading speed", "each token out faster",
                        # "every word is wait long time", "the text freezes mid-answer", "wants the streams faster"
                        r"reading speed|typing speed|\b(?:answers?|responses?|replies|text|words|tokens) (?:come|comes|coming) "
                        r"out\b|\b(?:each|every) (?:token|word)\b[^.?!,]{0,20}?\b(?:faster|quicker|slow\w*|wait\w*)|"
                        r"\bmid[\s-](?:answer|response|reply|stream|sentence|generation)\b|"
                        r"\bstreams? (?:\w+ ){0,2}?(?:faster|quicker)\b|\bfaster streams?\b|"
                        r"\beverything after (?:the first|that|it)?|\btrickl\w*|\bnext words?\b|\bover every (?:single )?"
                        r"(?:word|token)\b|\b(?:talk|speak)\w* faster\b|\bhow fast (?:each|every|the) tokens? comes? out|"
                        # generation's own speed: "speed up per-token generation", "faster tokens", "each slot crawls",
                        # "faster streaming", "streams stall", "words per second"
                        r"per[\s-]token generation|\bspeeds? up (?:the )?(?:token )?generation\b|\bfaster tokens\b|"
                        r"\bfaster streaming\b|\bstreaming faster\b|\bstreams? (?:\w+ )?stall\w*|\bsmooth(?:er)? streams?\b|"
                        r"\bwords? (?:per|a) second\b|\b(?:each|every|per) slot\b[^.?!]{0,30}?\b(?:generat\w*|faster|crawl\w*|"
                        r"slow\w*)",
                        re.I)),
    ("latency", re.compile(r"\b(?:full|whole|entire|complete) (?:answer|response|reply|plan|text|report|completion|output)|"
                           r"answer time|\b(?:task|request|call|reply|answer|response) takes|"
                           r"\bwall[\s-]?(?:clock[\s-])?time (?:of|per|for) (?:each|a|every|one|the) (?:request|call|reply|answer|job)\b|"
                           r"come back (?:in|within)|on screen within|\b(?:within|under) \d+(?:\.\d+)?\s?(?:s|sec|seconds|ms) of\b|"
                           r"how long\b[^.?!]{0,40}?\bwaits?\b(?!\s+(?:for|until|before) (?:the )?first)|appear in full|"
                           r"(?:users|people|customers) (?:give up|leave|abandon)",
                           re.I)),
    ("throughput", re.compile(r"\b(?:hold|handle|carry|serve|support|sustain) (?:up to |about |~)?\d+ (?:concurrent |"
                              r"simultaneous |parallel )?(?:users|sessions|chats|people|streams|requests|agents|conversations)|"
                              r"how many (?:concurrent |simultaneous )?(?:users|sessions|chats|requests|streams|agents)|"
                              r"as many (?:concurrent |simultaneous )?(?:chats|users|requests|sessions|streams) as possible|"
                              r"token budget|tokens? per gpu|get(?:ting)? through|miss(?:es)? the deadline|deadline|"
                              r"reservation ends|raises? the ceiling|how much (?:more )?(?:load|traffic)|keeps? up with|"
                              r"(?:max(?:imum)?|most) (?:number of )?(?:concurrent |simultaneous )?(?:users|sessions|sequences|"
                              r"requests|streams|chats|conversations)\b|\bmax(?:imum)? (?:requests|req|qps|rps)\b", re.I)),
    ("cost", re.compile(r"gpu bill|\b(?:halve|halved|cut|reduce)\w* (?:\w+ ){0,3}?(?:gpus|nodes|cards|hardware|instances)\b|"
                        r"how many (?:\w+ ){0,2}?\w+s do (?:we|i) (?:actually |really )?need|least hardware|\bjustify|"
                        r"expensive|\brenew\w*|\bquote\b|\bone (?:gpu|card|node) instead of|\binstead of (?:two|three|\d+)\b|"
                        r"cutting how many|halve\w* the (?:number|count) of|\b(?:number|count)\b[^.?!]{0,12}\bhalved|"
                        r"how many (?:\w+ )?(?:gpus|cards|nodes|[a-z]{1,3}\d{1,3}\w*s)\b(?=\s*\?)|"
                        r"saves? (?:real |a lot of |some )?money", re.I)),
    ("quality", re.compile(r"(?:answers|outputs|responses) (?:\w+ ){0,4}?(?:wrong|incorrect)|(?:answers|outputs) better|"
                           r"more accurate|hallucinat\w*|"
                           # what users and evals see when outputs degrade: "falls apart on 32k", "feels dumber", "drops
                           # key facts", "recall regressed", "scores 74 (need 78)", "the loss went nan"
                           r"\bfalls? apart\b|\brepeats? itself\b|\bloses? the thread\b|(?:can'?t|cannot|must not) be wrong\b|"
                           r"\bdrop\w* (?:key |important )?facts\b|\b(?:factual|quality) drift\b|\bdumber\b|"
                           r"\b(?:turns?|turned|goes|went) (?:in)?to garbage\b|\bgibberish\b|\binvent\w* (?:quotes|facts|citations)\b|"
                           r"\bloses? (?:too much|accuracy|points|quality)\b|\bclos\w* (?:the|that|this) gap\b|\bpoints? behind\b|"
                           r"\btrails?\b[^.;?!]{0,40}?\bby \d+(?:\.\d+)? (?:points|pts)\b|"
                           r"\b(?:recall|accuracy|score|eval\w*)\b[^.;?!]{0,12}?\b(?:regress\w*|dropped|fell|below (?:the )?bar)\b|"
                           r"\bneed (?:at least )?\d+(?:\.\d+)? on (?:our|the) (?:internal )?(?:eval|benchmark|test)\w*|"
                           r"\banswers? that match\b|\bit'?s the answers\b|\bloss\b[^.;!?]{0,24}\bnan\b|\bdiverg\w*", re.I)),
]
# Words that single out one objective among several ("only tokens/sec per GPU", "latency matters most").
_STRONG = re.compile(r"\b(?:only(?!\s+(?:does|do|did|gets?|got|reach\w*|hits?|manages?|runs?|gives?|about|around|"
                     r"has to|have to|needs? to|must|promises?|requires?|note|track|report|log|there|watch|"
                     r"~|\d|a (?:few|couple)))|most(?! of\b| \w+ (?:are|is|were|do|don't)\b)|main|primary|priority|kpi|goal|the (?:one )?thing|above all|best|care (?:about|for)|"
                     r"purely|all about|only about|"
                     r"all (?:we|i) care|matters|is king|critical|crucial|paramount|what counts|cheapest|fastest|lowest|highest|"
                     r"smallest|fewest|what (?:i|we) (?:really )?(?:need|want)(?: to \w+)? is|what hurts)\b", re.I)
_GB_FIGURE = re.compile(r"\d\s*gi?b\b", re.I)
# a label that makes the clause after it a wish: "- goal: 5 samples/s/GPU", "Want: first token < 400 ms"
_LABEL_BEFORE = re.compile(r"\b(?:goals?|targets?|wants?|wanted|needs?|aim|objective|kpi|ask|priority|problem|pain|acceptance)\s*[:=]\s*$",
                           re.I)
# Words that make a cue what the user wants rather than a number they report.
_WANT = re.compile(r"\b(?:only (?:does|do|did|gets?|got|reach\w*|hits?|manages?|runs?|gives?)|want|need|improve|the ask|reduc\w*|lower|cut|minimi[sz]e|maximi[sz]e|increase|boost|optimi[sz]e|"
                   r"priority|prioriti[sz]e|matters?|care about|goal|target|slo|sla|under|below|within|bound|"
                   r"faster|better|higher|more|less|too (?:slow|high|long)|bottleneck|focus|main concern|"
                   r"make it|get it|speed up|help|back|down|awful|terrible|poor|horrible|bad|sucks|kill\w*|hurts?)\b", re.I)

LOSSLESS = re.compile(
    r"without chang\w* (?:the )?outputs?|lossless|\b(?:token|byte|char(?:acter)?)[\s-]for[\s-](?:token|byte|char(?:acter)?)\b|exact(?:ly the same)? outputs?|same outputs?|bit[\s-]?(?:exact|identical|"
    r"for[\s-]bit)|identical (?:outputs?|results?|to)|no (?:quality|accuracy) (?:loss|drop|hit|regression)|"
    r"without (?:any )?(?:quality|accuracy) (?:loss|drop|hit)|must not change|outputs? (?:must|should|need to|has to|have to) "
    r"(?:stay|remain|be|match)|(?:must|should|need to|has to|have to) (?:stay|remain) (?:exact|identical|the same)|"
    r"without (?:hurting|harming|degrading|losing|sacrificing|reducing|compromising|affecting|impacting|touching|"
    r"any loss (?:of|in)) (?:the |any |model |its |our )*(?:accuracy|quality|outputs?)|"
    r"no (?:loss|drop|degradation) (?:in|of) (?:accuracy|quality)|"
    r"(?:can(?:no|')t|cannot|must not|may not|won't|can not) (?:lose|hurt|drop|sacrifice|degrade|change|alter|touch) "
    r"(?:any |the |model )*(?:accuracy|quality|outputs?|results?)|"
    r"no (?:quanti[sz]\w*|quant\b|approximations?|lossy)|(?:must|should|has to|have to|needs? to) match [^.;]{0,40}?"
    r"(?:outputs?|results?|answers?|logits)|quanti[sz]\w* (?:is |are )?(?:not (?:allowed|an option|acceptable)|off the table|"
    r"forbidden|banned|a no[\s-]go)|(?:not allowed|can(?:no|')t|cannot) (?:to )?quanti[sz]\w*|"
    r"(?:match|matches|matching) (?:the )?(?:fp16|bf16|fp32|reference|original) (?:outputs?|results?|exactly)|"
    r"(?:regulated|compliance)[^.]{0,40}(?:exact|identical)|"
    # said through the process that checks outputs: "nothing that changes what the model says", "certified as-is,
    # weights and outputs", "reproduce the golden set exactly", "blocks anything that moves the eval score"
    r"(?:nothing|anything) that (?:changes|alters|moves|shifts) what (?:the model|it) (?:says|outputs|produces|answers)|"
    r"(?:vetoed|veto|rejects?|rejected|blocks?|blocked|forbids?|bans?|banned) (?:anything|everything|any change) that "
    r"(?:changes|alters|moves|shifts|touches) (?:the )?(?:outputs?|answers?|results?|quality|accuracy)|"
    r"certified as[\s-]is|reproduc\w* [^.;]{0,50}?\bexactly\b|"
    r"(?:blocks?|rejects?|fails?) (?:anything|any change) that (?:moves|changes|shifts|alters) (?:the )?(?:eval|outputs?|"
    r"scores?|answers?)|(?:outputs?|answers?|generations?) (?:is |are )?(?:audited|checked|compared|diffed) against", re.I)
# lossy compression named as ruled out: "no quantisation is allowed", "anything but quantization", "no int4 tricks"
_LOSSY_WORD = re.compile(r"quanti[sz]\w*|\b(?:fp8|fp4|nvfp4|int4|int8|int3|nf4|[2-8][\s-]?bits?)\b|\bweight changes?\b", re.I)
# "fp8 weights were already rejected by eval", "any weight change ... means re-approval"
_RULED_OUT_AFTER = re.compile(r"^[^.;?!]{0,40}?\b(?:not (?:approved|allowed|permitted|acceptable|an option)|forbidden|banned|"
                              r"off the table|ruled out|a no[\s-]go|rejected|vetoed|re-?approv\w*|re-?certif\w*)\b", re.I)
_ANYTHING_BUT = re.compile(r"\b(?:anything|everything) (?:but|except|other than)\s+$", re.I)
# "no quantisation", "no fp4/int4 tricks": a rule; "we don't use quantization yet" only describes the stack
_NO_BEFORE = re.compile(r"\b(?:no|without|never|not even|nor)\s+(?:[\w-]+[\s/]+){0,2}$|"
                        # "can't be re-trained or re-quantized": a ban said in the passive, possibly of two things
                        r"\b(?:can'?t|cannot|must not|may not|won'?t) be\s+(?:[\w-]+\s+(?:or|nor|and)\s+)?(?:re-?)?$", re.I)
# "can we get it onto two cards without quantizing?": a rule even inside a question
_WITHOUT_BEFORE = re.compile(r"\bwithout\s+(?:any\s+)?$", re.I)
# "some quality loss is fine": the opposite, read as an explicit False
# "don't want any quality loss", "without changing model output": a change to outputs, negated
_OUTPUT_CHANGE = re.compile(r"(?:quality|accuracy|precision|output) (?:loss|drop|degradation|regression|hit|changes?)|"
                            r"chang\w* (?:the )?(?:model(?:'s)? )?(?:outputs?|results?|answers?)|"
                            r"(?:outputs?|results?|answers?|quality|accuracy) (?:may|must|can|should|cannot|can't)\s*(?:not )?"
                            r"(?:change|differ|drop|move|degrade)",
                            re.I)
LOSSY_OK = re.compile(r"(?:some|a (?:little|bit of)|small|minor|slight) (?:quality|accuracy) (?:loss|drop|hit|degradation) "
                      r"(?:is |would be )?(?:ok|okay|fine|acceptable|allowed)|lossy is (?:ok|fine)|"
                      r"quanti[sz]\w* (?:is |are )?(?:ok|okay|fine|allowed|acceptable)|happy to quanti[sz]|"
                      r"don'?t mind (?:some |a little )?(?:quality|accuracy) loss", re.I)
NO_RETRAIN = re.compile(r"no (?:more )?(?:re-?)?training|without (?:any )?(?:re-?)?training|without (?:any )?fine[\s-]?tun\w*|"
                        r"no fine[\s-]?tun\w*|(?:can(?:no|')t|cannot|can not|won'?t|unable to|not allowed to|don'?t want to) "
                        r"(?:re-?train|train|fine[\s-]?tune|touch the weights)|no (?:time|budget|compute|data|gpus) (?:for|to) "
                        r"(?:re-?)?train|off[\s-]the[\s-]shelf|post[\s-]training only|(?:training|fine[\s-]?tuning) is "
                        r"(?:not|out of)|weights? (?:are|is) frozen|frozen weights|as[\s-]is\b|"
                        r"(?:may not|must not|mustn'?t|can ?not|can'?t|not allowed to|forbid\w*|prohibit\w*)\s+(?:do\s+)?(?:any\s+)?"
                        r"(?:re-?train\w*|train\w*|fine[\s-]?tun\w*|modify\w*|alter\w*)|"
                        r"(?:needs?|requires?|requiring)\s+(?:an?\s+)?(?:\w+\s+)?(?:fine[\s-]?tun\w*|re-?training|training)"
                        r"[^.;]{0,25}?(?:off the table|not an option|impossible|(?:which|that) (?:we|i) can'?t)|"
                        r"no (?:gpus?|compute|budget|time|data|people|team|one) (?:for|to) (?:do )?(?:re-?)?(?:train\w*|fine[\s-]?tun\w*)|"
                        r"(?:budget|compute|gpus?) for (?:re-?)?training is (?:zero|nil|none|gone|0)\b|"
                        r"(?:nobody|no one)(?: here)? (?:can|knows how to|is able to) (?:re-?)?(?:train|fine[\s-]?tune)|"
                        r"nothing (?:may|can|will|is allowed to|gets to) be (?:re-?)?(?:trained|fine[\s-]?tuned)|"
                        # the weights are fixed by someone else: "legal froze the weights", "all we can touch is how
                        # it's served", "any change that needs a training run ... not an option"
                        r"froze (?:the |our |its )?weights|(?:weights|model) (?:is |are )?(?:locked|frozen)|"
                        r"(?:can'?t|cannot|must not|may not|won'?t) be (?:re-?)?(?:trained|fine[\s-]?tuned)|"
                        # nothing to train with: "zero GPU hours budgeted for any training", "no data or time to fine-tune"
                        r"\b(?:no|zero)\s+(?:[\w-]+\s+){0,5}?(?:for|to)\s+(?:any\s+|do\s+)?(?:re-?)?(?:train\w*|fine[\s-]?tun\w*)|"
                        # the model itself may not change: "we cannot change the model", "without touching the weights"
                        r"(?:cannot|can'?t|not allowed to|must not|may not|without)\s+(?:change|touch|modify|alter|updat)\w*\s+"
                        r"(?:the |its |our |any )?(?:model|weights|checkpoint)\b|"
                        r"all (?:we|i) can (?:touch|change) is (?:how it'?s |how the model is |the )?serv\w*|"
                        r"(?:needs?|requires?) a (?:training|fine[\s-]?tuning) run[^.]{0,80}?not an option", re.I)
CAN_RETRAIN = re.compile(r"(?:we|i) (?:can|could|are able to|have (?:the )?(?:budget|data|compute) to) (?:re-?train|train|"
                         r"fine[\s-]?tune|distill)|(?:fine[\s-]?tuning|training|retraining) is (?:ok|okay|fine|allowed|possible|"
                         r"an option)|willing to (?:fine[\s-]?tune|train|retrain)|open to (?:fine[\s-]?tuning|training)", re.I)


def read_phase(text: str, scope: Scope, found: Found) -> None:
    """The phase the user is in now: the first phase (by priority) with an asserted cue."""
    for phase, pattern in PHASE_CUES:
        for m in pattern.finditer(text):
            if scope.negated(m.start(), m.end()) or scope.past(m.start()):
                continue
            clause = scope.clause_at(m.start())
            words = text[clause.start:clause.end]
            if text.rfind("(", 0, m.start()) > text.rfind(")", 0, m.start()):
                # inside brackets the words describe what stands before them: "our fine-tune of Mistral 7B (full
                # fine-tune, same architecture)" is the served model
                words = text[sentence_start(text, m.start()):clause.end]
            option = _OPTION_BEFORE.search(text, max(clause.start, m.start() - 40), m.start()) \
                or _OPTION_AFTER.search(text, m.end(), min(clause.end, m.end() + 60))
            if phase in ("fine-tuning", "pre-training") and (option or
                                                              (_DESCRIBES_MODEL.search(words) and phase == "fine-tuning")):
                continue
            if phase in ("fine-tuning", "pre-training") and _SERVING_WORK.search(text) and not _TRAINING_WORK.search(text):
                # "a Llama-3.2-3B fine-tune with ~1 req/s ... p50 ITL", "we can fine-tune whatever we like ... 64 users
                # at once": training is named, but every figure and goal is a served model's
                serving = _SERVING_WORK.search(text)
                found.put("phase", "serving", serving.group(0))
                return
            found.put("phase", phase, m.group(0))
            return


# a memory budget stated as a limit ("must stay under 10GB of GPU memory"): a constraint, not what to improve
MEMORY_LIMIT = re.compile(r"\b(?:stay|keep \w+|be|fit)?\s*(?:under|below|within|at most|max(?:imum)?|<=?|≤|capped at)\s*"
                          r"\d+(?:\.\d+)?\s?gi?b\b(?:\s+(?:of\s+)?(?:gpu\s+|gpu's\s+)?(?:memory|vram|ram))?|"
                          r"\bmemory (?:cap|budget|limit)\s*(?:of|is|at|:)?\s*\d+(?:\.\d+)?\s?gi?b\b", re.I)


def _blank(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def read_objective(text: str, scope: Scope, found: Found) -> None:
    """The objective: a cue the user wants improved beats one they only report; then by priority. A memory limit
    counts only when nothing else is asked for."""
    masked = _blank(NO_RETRAIN, _blank(LOSSLESS, text))
    unlimited = _blank(MEMORY_LIMIT, masked)
    # a memory limit is only a goal when nothing else is: read without it first (once when the text has none)
    if _read_objective(unlimited, text, scope, found) or (unlimited != masked and _read_objective(masked, text, scope, found)):
        return
    timed = [name for name in ("ttft", "tpot", "latency") if f"{name}_ms" in found.measured]
    faster = _FASTER.search(masked)
    if len(timed) == 1 and faster:  # "200 tokens in 8 seconds ... needs to be 3x faster": the one figure given
        found.put("objective", timed[0], faster.group(0))
        return
    if (limit := MEMORY_LIMIT.search(masked)) or found.values.get("memory_budget_gb"):
        found.put("objective", "memory", limit.group(0).strip() if limit else found.evidence.get("memory_budget_gb", ""))


# a metric the user is content with: "TTFT p50 is 350ms which is great", "speed is fine", "MFU is 52%, I'm happy with that"
_CONTENT_WORDS = (r"(?:fine(?![\s-]?tun)|great|good|ok|okay|acceptable|alright|solid|secondary|loose|relaxed|lenient|"
                  r"invisible|not (?:the|a|an|our) (?:problem|issue|concern|bottleneck))\b")
_CONTENT_AFTER = re.compile(r"[^.;:,!?\n]{0,40}?\b(?:is|are|looks?|seems?|feels?|was|would be|'s)\s+(?:\w+\s+){0,2}?"
                            + _CONTENT_WORDS + r"|[^.;:!?\n]{0,60}?,\s*(?:which|that)\s*(?:is|looks?|seems?|'s)\s+(?:\w+\s+)?"
                            + _CONTENT_WORDS + r"|[^.;!?\n]{0,30}?\b(?:i'?m|we'?re|i am|we are) (?:happy|fine|ok|okay|satisfied) "
                            r"with\b", re.I)
_CONTENT_BEFORE = re.compile(r"\b(?:happy|fine|ok|okay|satisfied|content) with (?:the |our |its |that )?[\w\s]{0,12}$|"
                             # what is given up for something else: "we'd trade some per-user speed for more tokens"
                             r"\b(?:trade|sacrifice|give up|lose)\s+(?:away\s+|off\s+)?(?:some|a bit of|a little(?: of)?|"
                             r"~?\d+(?:\.\d+)?\s*(?:ms|s|%)(?:\s+of)?)\s+(?:the\s+|our\s+)?$|"
                             # "we'd accept slower streams", "we can tolerate a higher TTFT"
                             r"\b(?:accept|tolerate|live with)\s+(?:a\s+|some\s+)?(?:slightly\s+)?(?:slower|worse|higher|longer)\s+$|"
                             r"\b(?:is|are|'s) (?:ok|okay|fine|great|good|acceptable)\s*\(\s*[~≈]?[\d.,]*\s*$", re.I)
# the user fears running out of memory: "without OOM", "doesn't OOM" still name memory as the concern
_MEMORY_FEAR = re.compile(r"oom|out of memory|fit", re.I)
_MISSED = "the measured figure misses its stated target"
# the objective each target/measurement pair speaks for
_SLO_OBJECTIVES = {"ttft": "ttft_ms", "tpot": "tpot_ms", "latency": "latency_ms"}


# the rest of the clause says the metric is fine: "TTFT p50 is 380ms, that part is fine", "ttft is 300ms, irrelevant",
# "tokens/s per GPU is healthy, that isn't the issue", "decode speed is more than enough", "memory is fine, no OOMs"
_SATISFIED = re.compile(r"\b(?:fine(?![\s-]?tun)|ok(?:ay)?|good|great|healthy|irrelevant|vanity|secondary|loose|relaxed|"
                        r"plenty|acceptable|happy|solid|headroom|(?:quick|fast|good|big|low|high|small) enough|"
                        r"more than enough|(?:isn't|is not|aren't|are not|wasn't|not) (?:the|an?|our|my) (?:issue|problem|"
                        r"concern|bottleneck|priority|focus|complaint)|not it\b|(?:doesn't|does not|don't|do not) matter|"
                        r"well within|within (?:its|the|our) (?:target|slo|sla|budget)|meets? (?:its|the|our)|on target|"
                        r"no (?:ooms?|complaints?)|nobody (?:has )?complain\w*|(?:no one|nobody) cares|"
                        r"(?:can|could|may|might) (?:\w+ )?live with|(?:don't|do not|doesn't|does not) (?:really )?(?:mind|care)|"
                        r"(?:can|could|may|might) (?:\w+ )?(?:drop|shrink|fall|decrease|go down|suffer)|tolerable|bearable|"
                        r"whatever|inside (?:the |its |our )?(?:budget|target|slo|sla)|(?:lots of |plenty of |some )?slack|"
                        r"(?:can|could|may|might) (?:\w+ )?(?:grow|rise|increase|go up)\b|"
                        r"(?:can|could|may|is allowed to) (?:get|be|go|grow|rise) (?:a (?:bit|little) |slightly |somewhat )?"
                        r"(?:worse|higher|longer|slower|up)|not (?:part|in scope) of|out of scope|got better|improved|"
                        r"within what|(?:comes?|is|are|arrives?|shows? up|appears?|starts?) (?:\w+ )?(?:fast|quick\w*|instant\w*|"
                        r"immediately|snappy|right away))\b", re.I)
# between a metric and a word of contentment, a complaint says the contentment is about something else: "the wait
# before the answer starts is what bugs me, once it starts it's ok"
_COMPLAINT = re.compile(r"\b(?:bugs?|annoy\w*|frustrat\w*|hurts?|kills?|sucks|painful|the (?:problem|issue|pain)|"
                        r"too (?:slow|long|high)|complain\w*)\b", re.I)
_NOT_BEFORE = re.compile(r"\b(?:not|never|no longer|hardly|barely)\s+(?:\w+\s+)?$|n't\s+(?:\w+\s+)?$", re.I)
_WANTED_BEFORE = re.compile(r"\b(?:want|need|must|should|has to|have to|make|get|keep)\b", re.I)


# words that make a stated target something to keep rather than what to improve
_KEPT = re.compile(r"\b(?:subject to|while (?:meeting|keeping|holding|staying)|meeting (?:both|all|the|our|its)|"
                   r"(?:still )?keep (?:\w+ ){0,3}?(?:under|below|within)|"
                   r"promis\w*|guarantee\w*|meets? (?:its|the|our|both)|within (?:its|the|our)|stay(?:ing)? (?:under|within)|"
                   r"targets?\s*:|slos?\s*:)", re.I)


_RATE_WORDS = re.compile(RATE, re.I)


def _one_stream(text: str, found: Found) -> bool:
    """Whether the load is one stream: a stated batch of 1, a single user, a personal device, or an edge phase."""
    if found.values.get("batch") == 1 or found.values.get("phase") == "edge":
        return True
    batch = found.values.get("batch")
    # "decode" says one stream's speed when a figure is read, not that the load is one stream; a rate per GPU is a total
    return ((batch is None or batch <= 1) and not _PER_GPU.search(text)
            and any(m.group(0).lower() != "decode" for m in ONE_STREAM.finditer(text)))


_PER_GPU = re.compile(r"(?:per|/)\s*(?:gpu|card|device|node)\b", re.I)
_SAME_LOAD = re.compile(r"\bsame (?:traffic|load|volume|qps|number of (?:users|requests))\b", re.I)
# a request rate given as a figure: "~12 req/s", "5 requests per second"
_LOAD_FIGURE = re.compile(r"\d[\d,.]*\s*[kK]?\s*(?:req(?:uest)?s?/s(?:ec)?|requests per (?:second|minute)|qps|rps)\b", re.I)


def _content(text: str, m: re.Match[str], scope: Scope | None = None, objective: str = "") -> bool:
    """Whether the user says this metric is fine as it is."""
    if _CONTENT_AFTER.match(text, m.end()) or _CONTENT_BEFORE.search(text[max(0, m.start() - 40):m.start()]):
        return True
    if scope is None:
        return False
    clause = scope.clause_at(m.start())
    rest = text[m.end():min(clause.end, m.end() + 80)]
    for ok in _SATISFIED.finditer(rest):
        said = rest[:ok.start()]
        # "needs to be good enough", "isn't fast enough": a wish or a complaint, not contentment; "throughput oriented,
        # latency irrelevant": said of the metric named in between
        if _NOT_BEFORE.search(said) or _WANTED_BEFORE.search(text[clause.start:m.end()] + said) or _COMPLAINT.search(said):
            continue
        # "memory fits fine": a cue of the same metric in between still says it of this one
        if not any(pattern.search(said) for other, pattern in OBJECTIVE_CUES if other != objective):
            return True
    return False


def _slo_verdicts(found: Found) -> tuple[set[str], set[str]]:
    """Objectives whose measured figure misses its stated target, and those whose figure meets it."""
    missed, met = set(), set()
    for objective, key in _SLO_OBJECTIVES.items():
        target, said = found.values.get(f"slo_{key}"), found.evidence.get(f"slo_{key}", "")
        # a figure read from the target's own words is not a measurement of it ("should get its first token in 1 s")
        figures = [value for value, words in found.measured_all.get(key, []) if words not in said] \
            if key in found.measured else []  # a figure since turned into the target leaves no measurement
        if target and figures:
            # any figure over the target misses it: a median under a p99 target, or last week's figure, does not meet it
            (missed if max(figures) > target * 1.02 else met).add(objective)
    return missed, met


def _read_objective(masked: str, text: str, scope: Scope, found: Found) -> bool:
    best: tuple[int, int, int, int, str, str] | None = None
    missed, met = _slo_verdicts(found)
    if len(missed) == 1:  # a target the user's own figure misses: "SLO ITL p90 < 45 ms, observed 62 ms"
        best = (0, 0, 0, -1, next(iter(missed)), _MISSED)
    taken: list[tuple[int, int]] = []  # spans of cues already seen: "latency" in "inter-token latency" is that phrase
    for rank, (objective, pattern) in enumerate(OBJECTIVE_CUES):
        for m in pattern.finditer(masked):
            if any(a <= m.start() <= b + 1 for a, b in taken):
                continue
            taken.append(m.span())
            fear = objective == "memory" and _MEMORY_FEAR.search(m.group(0))
            if (scope.negated(m.start(), m.end()) and not fear) or _content(masked, m, scope, objective) or (objective in met and not missed):
                continue
            clause = scope.clause_at(m.start())
            words = text[clause.start:clause.end]
            lo = max(clause.start, m.start() - 40)
            strong = [s for s in _STRONG.finditer(masked, lo, min(clause.end, m.end() + 24))]
            label = _LABEL_BEFORE.search(text, max(0, clause.start - 16), clause.start)
            if label and not strong:  # "goal: 5 samples/s/GPU", "Want: first token < 400 ms": the label is the wish
                strong = [label]
            level = 0 if strong else 1 if _WANT.search(words) else 2
            has_target = objective in _SLO_OBJECTIVES and f"slo_{_SLO_OBJECTIVES[objective]}" in found.values
            if level == 2 and has_target:
                level = 1  # a metric given a target ("players notice if a line takes longer than 1.5 s") is wanted
            if objective == "memory" and level == 2 and m.group(0).lower() == "memory" and _GB_FIGURE.search(words):
                continue  # "GPU memory per rank peaks at 61 GB": memory reported, not a problem to solve
            if objective == "throughput" and _LOAD_FIGURE.search(text, max(0, m.start() - 12), m.end()) and (
                    level == 2 or _SAME_LOAD.search(words)):
                # a load reported as a figure ("~12 req/s at peak"), or one to keep ("the same traffic, ~12 req/s, on
                # fewer GPUs"), describes the traffic, not a goal
                level = 3
            if has_target and objective not in missed and _KEPT.search(text, max(0, clause.start - 40), clause.end):
                # a target to keep ("while meeting sub-second TTFT", "we promise 100 ms to first token") is a
                # constraint: any other wanted metric is the objective
                level = 3
            # several cues near a strong word ("the best quality that fits in 16GB"): the closest one is singled out
            # ...and among wanted cues, the one nearest the wanting word ("need 2x that throughput with the memory left")
            near = strong or (list(_WANT.finditer(text, clause.start, clause.end)) if level == 1 else [])
            gap = min((max(s.start() - m.end(), m.start() - s.end(), 0) for s in near), default=0)
            # what the question sentence asks about is wanted ("What would cut the GPU bill?"), and among cues of
            # one level the asked one wins over one only reported
            asked = 0 if scope.in_question(m.start()) else 1
            key = (min(level, 1) if not asked else level, asked, gap, rank, objective, m.group(0))
            if best is None or key[:4] < best[:4] and best[5] != _MISSED:
                best = key
    if best:
        objective = best[4]
        if objective == "throughput" and _RATE_WORDS.search(best[5]) and _one_stream(text, found):
            objective = "tpot"  # one stream's tokens per second is how fast its tokens come, not a total
        if objective == "latency":
            # a bare bound ("500 ms or less") that was read as the target of one metric speaks for that metric
            bound = figure_ms(best[5])
            objective = next((o for o, key in _SLO_OBJECTIVES.items() if o != "latency" and bound is not None
                              and found.values.get(f"slo_{key}") == round(bound, 3)), objective)
        found.put("objective", objective, best[5])
    elif found.values.get("phase") in ("pre-training", "fine-tuning") and _SPEED.search(masked):
        found.put("objective", "throughput", _SPEED.search(masked).group(0))
    else:
        return False
    return True


# a wish for more speed with no metric named: it is about the one time the user measured
_FASTER = re.compile(r"\b(?:\d+(?:\.\d+)?\s?x\s+)?(?:faster|quicker|speed\w* (?:it |this )?up|too slow|snappier)\b", re.I)
# training that is "slow" or should "finish sooner" wants throughput
_SPEED = re.compile(r"\bslow\w*|\bfaster\b|speed\w* (?:it )?up|shorter epochs?|per epoch|\bepochs?\b|\bhours?\b|\b\d+\s?h\b|"
                    r"finish|wall[\s-]?clock|shorten|per step|step time|min(?:ute)?s? per|how far can we get", re.I)


def _asked(text: str, scope: Scope, at: int) -> bool:
    """Whether the clause at ``at`` is a proposal or a question (a rule is stated, not asked)."""
    clause = scope.clause_at(at)
    return scope.proposed(at) or "?" in text[clause.start:clause.end + 1]


def read_constraints(text: str, scope: Scope, found: Found) -> None:
    """Lossless and no-retraining constraints, and their stated opposites."""
    lossless = next((m for m in LOSSLESS.finditer(text) if not scope.proposed(m.start()) or "?" not in
                     text[m.end():scope.clause_at(m.start()).end + 1]), None)
    if lossless is None:
        lossless = next((m for m in _LOSSY_WORD.finditer(text) if _WITHOUT_BEFORE.search(text[max(0, m.start() - 16):m.start()])
                         or not _asked(text, scope, m.start()) and (
            _NO_BEFORE.search(text[max(0, m.start() - 30):m.start()]) or _RULED_OUT_AFTER.match(text[m.end():])
            or _ANYTHING_BUT.search(text[max(0, m.start() - 24):m.start()]))), None)
    if lossless is None:
        lossless = next((m for m in _OUTPUT_CHANGE.finditer(text) if scope.negated(m.start(), m.end())
                         or re.search(r"(?:may|must|can|should)\s*not|cannot|can't", m.group(0), re.I)), None)
    if lossless:
        found.put("lossless", True, lossless.group(0))
    elif (ok := LOSSY_OK.search(text)):
        found.put("lossless", False, ok.group(0))
    no_retrain = NO_RETRAIN.search(text)
    can = CAN_RETRAIN.search(text)
    if can and (not no_retrain or can.start() > no_retrain.start()):
        found.put("no_retraining", False, can.group(0))
    elif no_retrain:
        found.put("no_retraining", True, no_retrain.group(0))


# words about the client side of a service ("our mobile app"), which say nothing about where the model runs
_CLIENT_WORDS = re.compile(r"mobile|phone|\bios\b|android|iphone|\bapp\b|inside an? (?:app|application)", re.I)
_LOCAL_ENGINES = ("llama.cpp", "mlc-llm", "exllamav2")


def phase_from_framework(catalog: Any, found: Found) -> None:
    """A serving engine named as what runs says the phase when only generic words did: "training" in "2k H100-hours
    for training are on the table" beside "Mixtral in vLLM" is serving, and "our mobile app's backend is Qwen on vLLM"
    serves from a data centre, not on the phone."""
    framework = catalog.frameworks.get(found.values.get("framework") or "")
    if framework is None or framework.kind != "serving" or framework.id in _LOCAL_ENGINES:
        return
    phase, evidence = found.values.get("phase"), found.evidence.get("phase", "")
    generic = phase == "pre-training" and PHASE_CUES[-1][1].fullmatch(evidence)
    client = phase == "edge" and _CLIENT_WORDS.search(evidence)
    if phase is None or generic or client:
        found.values["phase"] = "serving"
        found.evidence["phase"] = framework.name
