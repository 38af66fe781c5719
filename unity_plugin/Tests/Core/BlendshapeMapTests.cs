using System.Collections.Generic;
using NUnit.Framework;

namespace Lpm.Tests
{
    [TestFixture]
    public class BlendshapeMapTests
    {
        [TestCase("eyeBlinkLeft", "eyeblink|left")]
        [TestCase("EyeBlink_L", "eyeblink|left")]
        [TestCase("eye_blink_left", "eyeblink|left")]
        [TestCase("eyeBlink.L", "eyeblink|left")]
        [TestCase("blendShape1.eyeBlinkLeft", "eyeblink|left")]
        [TestCase("blendShape1.eye_blink.L", "eyeblink|left")]
        [TestCase("ARKit_eyeBlinkLeft", "eyeblink|left")]
        [TestCase("eyeBlinkL", "eyeblink|left")]
        [TestCase("Left_eyeBlink", "eyeblink|left")]
        [TestCase("L_eyeBlink", "eyeblink|left")]
        [TestCase("EYE-BLINK-RIGHT", "eyeblink|right")]
        [TestCase("eyeBlink_R", "eyeblink|right")]
        [TestCase("jawOpen", "jawopen|")]
        [TestCase("BS_JawOpen", "jawopen|")]
        [TestCase("blendShape.jawOpen", "jawopen|")]
        [TestCase("Head_Mesh.ARKit_JawOpen", "jawopen|")]
        [TestCase("mouthRollLower", "mouthrolllower|")]   // ends in 'r' but is not a side
        [TestCase("mouthLeft", "mouth|left")]
        [TestCase("jaw_L", "jaw|left")]
        [TestCase("", "")]
        public void NormalisesNames(string name, string key)
        {
            Assert.AreEqual(key, BlendshapeMap.Normalize(name));
        }

        [Test]
        public void AutoMapsATypicalRigIgnoringCaseSeparatorsPrefixesAndSideSpellings()
        {
            var targets = new List<string>
            {
                "blendShape1.Basis",          // 0
                "blendShape1.EyeBlink_L",     // 1
                "blendShape1.EyeBlink_R",     // 2
                "blendShape1.JawOpen",        // 3
                "blendShape1.mouth_smile.L",  // 4
                "blendShape1.mouth_smile.R",  // 5
                "blendShape1.Mouth_L",        // 6: the mouth moving left
                "blendShape1.TongueOut",      // 7
                "blendShape1.HeadYaw",        // 8: an angle curve name on a shape must not be driven
            };
            var map = new BlendshapeMap();
            int added = map.AutoMap(CurveNames.Protocol, targets, 100f);
            var byCurve = new Dictionary<string, int>();
            foreach (var b in map.Bindings)
            {
                byCurve[CurveNames.Protocol[b.Curve]] = b.Target;
                Assert.AreEqual(100f, b.Scale);
            }
            Assert.AreEqual(7, added);
            Assert.AreEqual(1, byCurve["eyeBlinkLeft"]);
            Assert.AreEqual(2, byCurve["eyeBlinkRight"]);
            Assert.AreEqual(3, byCurve["jawOpen"]);
            Assert.AreEqual(4, byCurve["mouthSmileLeft"]);
            Assert.AreEqual(5, byCurve["mouthSmileRight"]);
            Assert.AreEqual(6, byCurve["mouthLeft"]);
            Assert.AreEqual(7, byCurve["tongueOut"]);
            Assert.IsFalse(byCurve.ContainsKey("headYaw"));
            Assert.IsFalse(byCurve.ContainsKey("jawLeft"));
        }

        [Test]
        public void PrefersTheExactNameAmongEquivalentTargets()
        {
            var map = new BlendshapeMap();
            map.AutoMap(CurveNames.Protocol, new[] { "JAW_OPEN", "jawOpen" }, 1f);
            Assert.AreEqual(1, map.Bindings.Count);
            Assert.AreEqual(1, map.Bindings[0].Target);
        }

        [Test]
        public void ExplicitBindingsWinOverTheAutoMap()
        {
            var map = new BlendshapeMap();
            map.Bind(CurveNames.JawOpen, 0, 80f); // the profile says: jawOpen drives "MouthOpen"
            map.AutoMap(CurveNames.Protocol, new[] { "MouthOpen", "jawOpen", "eyeBlinkLeft" }, 100f);
            Assert.AreEqual(2, map.Bindings.Count);
            Assert.AreEqual(0, map.Bindings[0].Target);
            Assert.AreEqual(80f, map.Bindings[0].Scale);
            Assert.AreEqual(0, map.Bindings[1].Curve);  // eyeBlinkLeft
            Assert.AreEqual(2, map.Bindings[1].Target);
        }

        [Test]
        public void BindsAProfileRowByNames()
        {
            var map = new BlendshapeMap();
            var targets = new[] { "Basis", "MTH_Open", "Blink_L" };
            Assert.IsTrue(map.BindByName(CurveNames.Protocol, targets, "jawOpen", "mth_open", 90f));
            Assert.IsFalse(map.BindByName(CurveNames.Protocol, targets, "jawOpen", "missing", 90f));
            Assert.IsFalse(map.BindByName(CurveNames.Protocol, targets, "notACurve", "Basis", 90f));
            Assert.AreEqual(1, map.Bindings.Count);
            Assert.AreEqual(CurveNames.JawOpen, map.Bindings[0].Curve);
            Assert.AreEqual(1, map.Bindings[0].Target);
        }

        [Test]
        public void AppliesScaledAndSummedWeights()
        {
            var map = new BlendshapeMap();
            map.Bind(CurveNames.JawOpen, 1, 100f);
            map.Bind(18, 1, -50f); // mouthClose reduces the same target
            map.Bind(0, 2, 100f);
            var curves = new float[61];
            curves[CurveNames.JawOpen] = 0.6f;
            curves[18] = 0.2f;
            curves[0] = 1f;
            var weights = new[] { 7f, 7f, 7f, 7f };
            map.Apply(curves, weights);
            var expected = new[] { 7f, 50f, 100f, 7f };
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], weights[i], 1e-4);
        }
    }
}
