using System;
using System.Collections.Generic;
using System.Text;

namespace Lpm
{
    /// <summary>One curve driving one target blendshape: weight = curve * Scale.</summary>
    public struct BlendshapeBinding
    {
        /// <summary>Index into the 61 curves (protocol order).</summary>
        public int Curve;
        /// <summary>Index of the blendshape on the target mesh.</summary>
        public int Target;
        /// <summary>Multiplier from the curve's 0..1 to the target's weight range (Unity: 100).</summary>
        public float Scale;
    }

    /// <summary>
    /// Which target blendshape each ARKit curve drives. Built from explicit pairs (a mapping
    /// profile) and/or an auto-map that matches names after normalising them:
    /// <list type="bullet">
    /// <item>case is ignored, and so are separators ('_', '-', '.', ' ');</item>
    /// <item>a namespace before the last '.' is dropped ("blendShape1.jawOpen", "Face.jawOpen");</item>
    /// <item>common prefixes are dropped ("ARKit_", "bs_", "blendshape_", "shape_");</item>
    /// <item>sides are recognised in the usual spellings: suffixes "Left"/"Right", "_L"/"_R",
    /// ".L"/".R", a final capital "L"/"R" after a lower-case letter ("eyeBlinkL"), and prefixes
    /// "Left_"/"L_".</item>
    /// </list>
    /// "eyeBlinkLeft", "EyeBlink_L", "blendShape1.eye_blink.L" and "ARKit_eyeBlinkLeft" all
    /// become the key "eyeblink|left". Only blendshape curves (0..51) are auto-mapped; the head
    /// and eye angles (52..60, radians) are for bones, not blendshapes.
    /// </summary>
    public sealed class BlendshapeMap
    {
        /// <summary>Curves 0..51 are ARKit blendshapes in 0..1; the rest are angles.</summary>
        public const int BlendshapeCurveCount = 52;

        static readonly string[] Prefixes = { "arkit", "blendshapes", "blendshape", "shapes", "shape", "bs" };

        readonly List<BlendshapeBinding> _bindings = new List<BlendshapeBinding>();

        public IList<BlendshapeBinding> Bindings
        {
            get { return _bindings.AsReadOnly(); }
        }

        /// <summary>Adds or replaces the binding of <paramref name="curve"/> to <paramref name="target"/>.</summary>
        public void Bind(int curve, int target, float scale)
        {
            for (int i = 0; i < _bindings.Count; i++)
            {
                if (_bindings[i].Curve == curve && _bindings[i].Target == target)
                {
                    _bindings[i] = new BlendshapeBinding { Curve = curve, Target = target, Scale = scale };
                    return;
                }
            }
            _bindings.Add(new BlendshapeBinding { Curve = curve, Target = target, Scale = scale });
        }

        /// <summary>
        /// Binds by names (a mapping profile's row): the curve named <paramref name="curve"/>
        /// (exact, or failing that case-insensitive) to the target named <paramref name="target"/>
        /// (likewise). Returns false, binding nothing, when either name is not found.
        /// </summary>
        public bool BindByName(IList<string> curveNames, IList<string> targetNames, string curve, string target, float scale)
        {
            int c = IndexOf(curveNames, curve);
            int t = IndexOf(targetNames, target);
            if (c < 0 || t < 0)
                return false;
            Bind(c, t, scale);
            return true;
        }

        static int IndexOf(IList<string> names, string name)
        {
            if (string.IsNullOrEmpty(name))
                return -1;
            for (int i = 0; i < names.Count; i++)
            {
                if (names[i] == name)
                    return i;
            }
            for (int i = 0; i < names.Count; i++)
            {
                if (string.Equals(names[i], name, StringComparison.OrdinalIgnoreCase))
                    return i;
            }
            return -1;
        }

        /// <summary>Whether some binding drives <paramref name="target"/>.</summary>
        public bool IsTargetBound(int target)
        {
            foreach (var b in _bindings)
            {
                if (b.Target == target)
                    return true;
            }
            return false;
        }

        /// <summary>Whether <paramref name="curve"/> drives something.</summary>
        public bool IsCurveBound(int curve)
        {
            foreach (var b in _bindings)
            {
                if (b.Curve == curve)
                    return true;
            }
            return false;
        }

        /// <summary>
        /// Binds every blendshape curve not yet bound to the target whose normalised name is the
        /// same, skipping targets already driven. Among targets with the same key an exact
        /// (case-insensitive) name match is preferred, then the first. Returns the bindings added.
        /// </summary>
        public int AutoMap(IList<string> curveNames, IList<string> targetNames, float scale)
        {
            var byKey = new Dictionary<string, List<int>>();
            for (int t = 0; t < targetNames.Count; t++)
            {
                if (string.IsNullOrEmpty(targetNames[t]) || IsTargetBound(t))
                    continue;
                string key = Normalize(targetNames[t]);
                if (key.Length == 0)
                    continue;
                List<int> list;
                if (!byKey.TryGetValue(key, out list))
                    byKey[key] = list = new List<int>();
                list.Add(t);
            }
            int added = 0;
            int curves = Math.Min(curveNames.Count, BlendshapeCurveCount);
            for (int c = 0; c < curves; c++)
            {
                if (string.IsNullOrEmpty(curveNames[c]) || IsCurveBound(c))
                    continue;
                List<int> candidates;
                if (!byKey.TryGetValue(Normalize(curveNames[c]), out candidates) || candidates.Count == 0)
                    continue;
                int pick = candidates[0];
                foreach (int t in candidates)
                {
                    if (string.Equals(targetNames[t], curveNames[c], StringComparison.OrdinalIgnoreCase))
                    {
                        pick = t;
                        break;
                    }
                }
                candidates.Remove(pick);
                Bind(c, pick, scale);
                added++;
            }
            return added;
        }

        /// <summary>
        /// Writes weights for every binding: weights[target] = sum of curve * scale over the
        /// curves driving it. Targets not bound are left untouched.
        /// </summary>
        public void Apply(float[] curves, float[] weights)
        {
            foreach (var b in _bindings)
            {
                if (b.Target < weights.Length)
                    weights[b.Target] = 0f;
            }
            foreach (var b in _bindings)
            {
                if (b.Curve < curves.Length && b.Target < weights.Length)
                    weights[b.Target] += curves[b.Curve] * b.Scale;
            }
        }

        /// <summary>The matching key of a blendshape name: "base|side" (side "", "left" or "right").</summary>
        public static string Normalize(string name)
        {
            if (name == null)
                return string.Empty;
            string s = name.Trim();
            string side = string.Empty;

            // Side markers that rely on the original spelling (separator or capital letter).
            string lower = s.ToLowerInvariant();
            if (EndsWithSeparated(lower, "l") || EndsWithSeparated(lower, "left"))
                side = "left";
            else if (EndsWithSeparated(lower, "r") || EndsWithSeparated(lower, "right"))
                side = "right";
            if (side.Length > 0)
                s = s.Substring(0, s.Length - (lower.EndsWith("left") || lower.EndsWith("right")
                                                   ? (side == "left" ? 4 : 5) : 1) - 1);
            else if (s.Length >= 2 && (s[s.Length - 1] == 'L' || s[s.Length - 1] == 'R') &&
                     char.IsLower(s[s.Length - 2]))
            {
                side = s[s.Length - 1] == 'L' ? "left" : "right";
                s = s.Substring(0, s.Length - 1);
            }

            // Namespace ("blendShape1.", "Head_Mesh.") before the last dot.
            int dot = s.LastIndexOf('.');
            if (dot >= 0 && dot < s.Length - 1)
                s = s.Substring(dot + 1);

            lower = s.ToLowerInvariant();
            if (side.Length == 0)
            {
                if (StartsWithSeparated(lower, "left") || StartsWithSeparated(lower, "l"))
                {
                    side = "left";
                    s = s.Substring(lower.StartsWith("left") ? 5 : 2);
                }
                else if (StartsWithSeparated(lower, "right") || StartsWithSeparated(lower, "r"))
                {
                    side = "right";
                    s = s.Substring(lower.StartsWith("right") ? 6 : 2);
                }
            }

            var compact = new StringBuilder(s.Length);
            foreach (char ch in s)
            {
                if (char.IsLetterOrDigit(ch))
                    compact.Append(char.ToLowerInvariant(ch));
            }
            string core = compact.ToString();
            foreach (string prefix in Prefixes)
            {
                if (core.StartsWith(prefix, StringComparison.Ordinal) && core.Length > prefix.Length)
                {
                    core = core.Substring(prefix.Length);
                    // "blendShape1" style numbering after the prefix
                    int digits = 0;
                    while (digits < core.Length - 1 && char.IsDigit(core[digits]))
                        digits++;
                    core = core.Substring(digits);
                    break;
                }
            }
            if (side.Length == 0)
            {
                // Side spelled into camelCase without a separator: "eyeBlinkLeft".
                if (core.EndsWith("left") && core.Length > 4)
                {
                    side = "left";
                    core = core.Substring(0, core.Length - 4);
                }
                else if (core.EndsWith("right") && core.Length > 5)
                {
                    side = "right";
                    core = core.Substring(0, core.Length - 5);
                }
            }
            return core.Length == 0 ? string.Empty : core + "|" + side;
        }

        static bool IsSeparator(char c)
        {
            return c == '_' || c == '-' || c == '.' || c == ' ';
        }

        static bool EndsWithSeparated(string lower, string suffix)
        {
            int at = lower.Length - suffix.Length - 1;
            return at > 0 && lower.EndsWith(suffix, StringComparison.Ordinal) && IsSeparator(lower[at]);
        }

        static bool StartsWithSeparated(string lower, string prefix)
        {
            return lower.Length > prefix.Length + 1 && lower.StartsWith(prefix, StringComparison.Ordinal) &&
                   IsSeparator(lower[prefix.Length]);
        }
    }
}
